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

// Sum of squares and L2 norm accumulated in double.
template <typename T>
double norm2(const T* x, std::int64_t n) {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
    return std::sqrt(s);
}

// Upper-and-lower Gram matrix G = X X^T of m rows of length n, in double.
template <typename T>
void gram(const T* x, std::int64_t m, std::int64_t n, double* g) {
    for (std::int64_t a = 0; a < m; ++a)
        for (std::int64_t b = a; b < m; ++b) {
            double s = 0;
            const T* xa = x + a * n;
            const T* xb = x + b * n;
            for (std::int64_t i = 0; i < n; ++i) s += double(xa[i]) * double(xb[i]);
            g[a * m + b] = s;
            g[b * m + a] = s;
        }
}

}  // namespace gradatlas::detail
