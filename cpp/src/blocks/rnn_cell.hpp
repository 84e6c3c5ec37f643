// The vanilla RNN cell: h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1}). Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cell_step.hpp"
#include "gradatlas/activations.hpp"
#include "gradatlas/recurrent.hpp"

namespace gradatlas::blocks {

struct RnnCell {
    static constexpr Cell kind = Cell::rnn;
    static constexpr int gates = 1;
    static constexpr int state_units = 1;
    static constexpr int cache_units = 2;  // [phi' | h]
    static constexpr int derivatives_at = 0;
    static constexpr bool reports_cell_gradient = false;
    static constexpr bool direct_path = false;
    static bool forget_slice(std::int64_t, std::int64_t) { return false; }

    template <typename T>
    static void forward(const RecurrentConfig& c, const CellStep<T>& step, T* pre, T* h, T*,
                        T* cache) {
        const std::int64_t n = step.n;
        step.preactivation(0, n, pre);
        T* dphi = cache;
        T* out = cache + n;
        apply_activation(c.activation, c.activation_param, pre, out, dphi, std::size_t(n));
        std::copy(out, out + n, h);
    }

    // p = s dl/d(pre), from vh = dl/dh_t.
    template <typename T>
    static double backward(T s, std::int64_t n, const T* cache, T* vh, T*, T*, T* p) {
        for (std::int64_t i = 0; i < n; ++i) p[i] = s * (cache[i] * vh[i]);
        return 0.0;
    }
};

}  // namespace gradatlas::blocks
