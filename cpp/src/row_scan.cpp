#include "row_scan.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "target_clones.hpp"

namespace gradatlas::detail {
namespace {

template <typename T>
using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

template <typename T>
Bits<T> bits_of(T x) {
    Bits<T> b;
    std::memcpy(&b, &x, sizeof b);
    return b;
}

// The smallest T not below kSaturated: for x in T, x < kSaturated exactly when
// x < this (kSaturated is not a float, and no T lies between the two).
template <typename T>
T saturation_threshold() {
    T t = static_cast<T>(kSaturated);
    if (double(t) < kSaturated) t = std::nextafter(t, std::numeric_limits<T>::infinity());
    return t;
}

template <typename T>
inline __attribute__((always_inline)) RowScan scan_impl(const T* h, const T* dphi, std::int64_t n) {
    using B = Bits<T>;
    constexpr B kAbs = std::numeric_limits<B>::max() >> 1;  // clears the sign bit
    const B inf = bits_of(std::numeric_limits<T>::infinity());
    const B saturated_below = bits_of(saturation_threshold<T>());
    std::int64_t saturated = 0, dead = 0, nans = 0, infs = 0;
    B largest = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const B d = bits_of(dphi[i]) & kAbs;
        const B a = bits_of(h[i]) & kAbs;
        saturated += d < saturated_below;
        dead += d == 0;
        nans += a > inf;
        infs += a == inf;
        largest = a > largest ? a : largest;
    }
    RowScan out;
    out.saturated = saturated;
    out.dead = dead;
    out.has_nan = nans > 0;
    out.has_inf = infs > 0;
    T big;
    std::memcpy(&big, &largest, sizeof big);
    out.largest = double(big);
    return out;
}

}  // namespace

GRADATLAS_CLONES RowScan scan_row(const float* h, const float* dphi, std::int64_t n) {
    return scan_impl(h, dphi, n);
}

GRADATLAS_CLONES RowScan scan_row(const double* h, const double* dphi, std::int64_t n) {
    return scan_impl(h, dphi, n);
}

}  // namespace gradatlas::detail
