// The residual block: a_l = a_{l-1} + alpha f(a_{l-1}) where a configuration
// has the skip connection, a_l = f(a_{l-1}) where it does not. Internal.
#pragma once

#include <algorithm>
#include <cstdint>

#include "rows.hpp"

namespace gradatlas::blocks {

// x_next = x + alpha branch (or the branch alone) for every row: skip_of(c)
// says whether configuration c has the skip connection, alpha_of(c) gives its
// branch scale.
template <typename T, class Skip, class Alpha>
void residual_forward(const Rows& rows, const T* x, const T* branch, T* x_next, std::int64_t n,
                      Skip&& skip_of, Alpha&& alpha_of) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const std::int64_t c = rows.config_of(r);
        const T* pr = branch + r * n;
        T* xr = x_next + r * n;
        if (skip_of(c)) {
            const T alpha = T(alpha_of(c));
            const T* xp = x + r * n;
            for (std::int64_t i = 0; i < n; ++i) xr[i] = xp[i] + alpha * pr[i];
        } else {
            std::copy(pr, pr + n, xr);
        }
    }
}

// The skip path of the backward pass: prev += v where a configuration has it
// (the branch's path, alpha included, went through the branch's blocks).
template <typename T, class Skip>
void residual_backward(const Rows& rows, const T* v, T* prev, std::int64_t n, Skip&& skip_of) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r)
        if (skip_of(rows.config_of(r)))
            for (std::int64_t i = 0; i < n; ++i) prev[r * n + i] += v[r * n + i];
}

}  // namespace gradatlas::blocks
