// Rows kept as a unit vector times 10^scale: how every engine (and the
// training loop) carries gradients, and the forward rows of positively
// homogeneous networks, through any number of positions without under- or
// overflow. Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "../log_space.hpp"

namespace gradatlas::engine {

// How a row is brought to unit norm: times the inverse of its norm (the
// engines), or divided by it (the training loop, whose recorded runs keep
// their bits).
enum class Rescale { by_inverse, by_division };

// Scales the row [v | w] (w optional: the LSTM's cell-state part) to unit
// norm and returns log10 of its norm before: -inf for a zero row, inf or NaN
// for a non-finite one, which are left as they are.
template <Rescale how = Rescale::by_inverse, typename T>
double to_unit_norm(T* v, std::int64_t n, T* w = nullptr, std::int64_t m = 0) {
    double sq = detail::dot(v, v, n);
    if (w) sq += detail::dot(w, w, m);
    const double norm = std::sqrt(sq);
    if (norm > 0 && std::isfinite(norm)) {
        const double inv = 1.0 / norm;
        const auto rescale = [&](T x) {
            return how == Rescale::by_inverse ? T(double(x) * inv) : T(double(x) / norm);
        };
        for (std::int64_t i = 0; i < n; ++i) v[i] = rescale(v[i]);
        if (w)
            for (std::int64_t i = 0; i < m; ++i) w[i] = rescale(w[i]);
    }
    return std::log10(norm);
}

// The `rows` rows of v (each of length n) to unit norm, in parallel; each
// row's log10 norm is added to its entry of `scale`.
template <Rescale how = Rescale::by_inverse, typename T>
void to_unit_rows(T* v, std::int64_t rows, std::int64_t n, double* scale, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t r = 0; r < rows; ++r) scale[r] += to_unit_norm<how>(v + r * n, n);
}

// Two rows held at log10 scales a and b, summed at the larger scale `top`:
// f_a a + f_b b when `combine`. Otherwise the first row stays as it is, at
// `top`: NaN where either scale is NaN (as the sum would be), -inf where both
// rows are zero, and an overflow (inf) stays one (10^(inf - inf) would be NaN).
struct ScaledSum {
    double top;
    double f_a, f_b;
    bool combine;
};

inline ScaledSum scaled_sum(double a, double b) {
    if (std::isnan(a) || std::isnan(b))
        return {std::numeric_limits<double>::quiet_NaN(), 1.0, 0.0, false};
    const double top = std::max(a, b);
    if (std::isinf(top)) return {top, 1.0, 0.0, false};
    return {top, std::pow(10.0, a - top), std::pow(10.0, b - top), true};
}

}  // namespace gradatlas::engine
