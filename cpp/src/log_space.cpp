#include "log_space.hpp"

#include "target_clones.hpp"

namespace gradatlas::detail {
namespace {

constexpr int kLanes = 8;  // partial sums per dot product, whatever the vector width

inline double reduce_lanes(const double (&acc)[kLanes]) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

template <typename T>
inline __attribute__((always_inline)) double dot_impl(const T* a, const T* b, std::int64_t n) {
    double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) acc[j] += double(a[i + j]) * double(b[i + j]);
    double s = reduce_lanes(acc);
    for (; i < n; ++i) s += double(a[i]) * double(b[i]);
    return s;
}

}  // namespace

GRADATLAS_CLONES double dot(const float* a, const float* b, std::int64_t n) {
    return dot_impl(a, b, n);
}

GRADATLAS_CLONES double dot(const double* a, const double* b, std::int64_t n) {
    return dot_impl(a, b, n);
}

}  // namespace gradatlas::detail
