#include "log_space.hpp"

namespace gradatlas::detail {
namespace {

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GRADATLAS_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define GRADATLAS_CLONES
#endif

template <typename T>
inline __attribute__((always_inline)) double dot_impl(const T* a, const T* b, std::int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += double(a[i + j]) * double(b[i + j]);
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
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
