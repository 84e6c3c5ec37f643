// The activation block: phi and phi' of each row's configuration's activation
// (cpp/src/activations.cpp), and the chain rule through it. Internal.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gradatlas/activations.hpp"
#include "rows.hpp"

namespace gradatlas::blocks {

// phi (may be ht itself, or null) and dphi of ht for every row; of(c) gives
// configuration c's (Activation, parameter).
template <typename T, class Of>
void activation_forward(const Rows& rows, const T* ht, T* phi, T* dphi, std::int64_t n, Of&& of) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const auto [activation, param] = of(rows.config_of(r));
        apply_activation(activation, param, ht + r * n, phi ? phi + r * n : nullptr, dphi + r * n,
                         std::size_t(n));
    }
}

// g = (branch phi') v for every (backward) row, phi' read from the row's
// forward row; branch(c) is the scale of the path the activation sits on (a
// residual branch's alpha, else 1), folded in here so that each element keeps
// one chain of operations.
template <typename T, class Branch>
void activation_backward(const Rows& rows, const T* dphi, const T* v, T* g, std::int64_t n,
                         Branch&& branch) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const T scale = T(branch(rows.config_of(r)));
        const T* d = dphi + rows.forward_row(r) * n;
        for (std::int64_t i = 0; i < n; ++i) g[r * n + i] = scale * d[i] * v[r * n + i];
    }
}

}  // namespace gradatlas::blocks
