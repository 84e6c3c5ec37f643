// Helpers for quantities kept as log10 scale + normalized value. Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace gradatlas::detail {

// log10 sqrt(mean_i 10^(2 x_i)), stable for any range of x (the log of the
// root-mean-square of numbers given by their log10).
inline double log10_rms(const double* x, std::int64_t n) {
    double m = -std::numeric_limits<double>::infinity();
    for (std::int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
    if (!std::isfinite(m)) return m;
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += std::pow(10.0, 2.0 * (x[i] - m));
    return m + 0.5 * std::log10(s / double(n));
}

inline double mean(const double* x, std::int64_t n) {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += x[i];
    return s / double(n);
}

// Dot product accumulated in double with 8 independent partial sums combined
// in a fixed order: vectorizable (a single running sum is a serial chain of
// additions), and the result depends only on the two vectors, on any ISA (no
// FMA; log_space.cpp compiles it once per instruction set, for speed only).
double dot(const float* a, const float* b, std::int64_t n);
double dot(const double* a, const double* b, std::int64_t n);

template <typename T>
double norm2(const T* x, std::int64_t n) {
    return std::sqrt(dot(x, x, n));
}

// Gram matrix G = X X^T (both triangles) of m rows of length n, in double, in
// register tiles (gram.cpp): each entry one fixed chain over the row, fused
// multiply-adds where the CPU has FMA, as in the products.
void gram(const float* x, std::int64_t m, std::int64_t n, double* g);
void gram(const double* x, std::int64_t m, std::int64_t n, double* g);

}  // namespace gradatlas::detail
