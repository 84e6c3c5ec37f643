#include "row_scan.hpp"

#include <cmath>
#include <limits>

#include "fast_exp.hpp"
#include "target_clones.hpp"

namespace gradatlas::detail {
namespace {

template <typename T>
constexpr Bits<T> kAbs = std::numeric_limits<Bits<T>>::max() >> 1;  // clears the sign bit

// The smallest T not below kSaturated: for x in T, x < kSaturated exactly when
// x < this (kSaturated is not a float, and no T lies between the two).
template <typename T>
T saturation_threshold() {
    T t = static_cast<T>(kSaturated);
    if (double(t) < kSaturated) t = std::nextafter(t, std::numeric_limits<T>::infinity());
    return t;
}

template <typename T>
inline __attribute__((always_inline)) DerivativeCount count_impl(const T* d, std::int64_t n) {
    using B = Bits<T>;
    const B below = to_bits(saturation_threshold<T>());
    std::int64_t saturated = 0, dead = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const B a = to_bits(d[i]) & kAbs<T>;
        saturated += a < below;
        dead += a == 0;
    }
    return {saturated, dead};
}

template <typename T>
inline __attribute__((always_inline)) ValueScan scan_impl(const T* x, std::int64_t n) {
    using B = Bits<T>;
    const B inf = to_bits(std::numeric_limits<T>::infinity());
    std::int64_t nans = 0, infs = 0;
    B largest = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const B a = to_bits(x[i]) & kAbs<T>;
        nans += a > inf;
        infs += a == inf;
        largest = a > largest ? a : largest;
    }
    return {nans > 0, infs > 0, double(from_bits<T>(largest))};
}

}  // namespace

GRADATLAS_CLONES DerivativeCount count_small_derivatives(const float* d, std::int64_t n) {
    return count_impl(d, n);
}
GRADATLAS_CLONES DerivativeCount count_small_derivatives(const double* d, std::int64_t n) {
    return count_impl(d, n);
}
GRADATLAS_CLONES ValueScan scan_values(const float* x, std::int64_t n) {
    return scan_impl(x, n);
}
GRADATLAS_CLONES ValueScan scan_values(const double* x, std::int64_t n) {
    return scan_impl(x, n);
}

}  // namespace gradatlas::detail
