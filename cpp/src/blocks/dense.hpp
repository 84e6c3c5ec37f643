// The dense block: h = s Z a + t z, with Z and z the standard matrix and bias
// of the layer drawn from the counter-based generator and shared by every
// configuration of a group, s and t each configuration's scales; one product
// serves all configurations. Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../log_space.hpp"
#include "gradatlas/det_gemm.hpp"
#include "rows.hpp"

namespace gradatlas::blocks {

// h (rows x n_out) = s Z x + t bias for every row; scales(c) gives (s, t) of
// configuration c. Z is n_out x n_in, row-major.
template <typename T, class Scales>
void dense_forward(const Rows& rows, const T* x, std::int64_t n_in, const T* z, const T* bias,
                   std::int64_t n_out, Scales&& scales, T* h) {
    detail::gemm_nt(rows.count(), n_out, n_in, x + rows.first * n_in, n_in, z, n_in,
                    h + rows.first * n_out, n_out, rows.threads);
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const auto [s_, t_] = scales(rows.config_of(r));
        const T s = T(s_), t = T(t_);
        T* hr = h + r * n_out;
        for (std::int64_t i = 0; i < n_out; ++i) hr[i] = s * hr[i] + t * bias[i];
    }
}

// prev (rows x n_in) = (s g) Z: the gradient with respect to the block's input
// from g, that with respect to h (g is scaled in place); scale(c) gives s.
template <typename T, class Scale>
void dense_backward(const Rows& rows, T* g, std::int64_t n_out, const T* z, std::int64_t n_in,
                    Scale&& scale, T* prev) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const T s = T(scale(rows.config_of(r)));
        for (std::int64_t i = 0; i < n_out; ++i) g[r * n_out + i] *= s;
    }
    detail::gemm_nn(rows.count(), n_in, n_out, g + rows.first * n_out, n_out, z, n_in,
                    prev + rows.first * n_in, n_in, rows.threads);
}

// log10 |(1/B) sum_b delta_b a_b^T|_F, the norm of the weight gradient of the
// batch-mean loss, from Gram matrices without forming the outer products:
// |sum_b delta_b a_b^T|_F^2 = sum_bb' (delta_b . delta_b')(a_b . a_b') with
// delta_b = 10^s_b g_b and a_b = 10^f_b x_b (unit rows g, x with their Grams
// Gd, Ga), so the combined scale of a pair is t_b + t_b', t_b = s_b + f_b.
// t is scratch of B values.
inline double log10_weight_gradient_norm(std::int64_t batch, const double* s, const double* f,
                                         const double* Gd, const double* Ga, double* t) {
    for (std::int64_t b = 0; b < batch; ++b) t[b] = s[b] + f[b];
    const double top = *std::max_element(t, t + batch);
    if (!std::isfinite(top)) return top;
    for (std::int64_t b = 0; b < batch; ++b) t[b] = std::pow(10.0, t[b] - top);
    double sum = 0;
    for (std::int64_t b = 0; b < batch; ++b)
        for (std::int64_t b2 = 0; b2 < batch; ++b2)
            sum += (t[b] * t[b2]) * Gd[b * batch + b2] * Ga[b * batch + b2];
    return top + 0.5 * std::log10(std::max(sum, 0.0)) - std::log10(double(batch));
}

}  // namespace gradatlas::blocks
