// Rows kept as a unit vector times 10^scale: how every engine carries
// gradients (and the forward rows of positively homogeneous networks) through
// any number of positions without under- or overflow. Internal.
#pragma once

#include <cmath>
#include <cstdint>

#include "../log_space.hpp"

namespace gradatlas::engine {

// Scales the row [v | w] (w optional: the LSTM's cell-state part) to unit
// norm and returns log10 of its norm before: -inf for a zero row, inf or NaN
// for a non-finite one, which are left as they are.
template <typename T>
double to_unit_norm(T* v, std::int64_t n, T* w = nullptr, std::int64_t m = 0) {
    double sq = detail::dot(v, v, n);
    if (w) sq += detail::dot(w, w, m);
    const double norm = std::sqrt(sq);
    if (norm > 0 && std::isfinite(norm)) {
        const double inv = 1.0 / norm;
        for (std::int64_t i = 0; i < n; ++i) v[i] = T(double(v[i]) * inv);
        if (w)
            for (std::int64_t i = 0; i < m; ++i) w[i] = T(double(w[i]) * inv);
    }
    return std::log10(norm);
}

}  // namespace gradatlas::engine
