// The GRU cell, gates [r z n] as torch.nn.GRUCell:
//   n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)),
//   h_t = (1 - z) * n + z * h_{t-1}, with b_hh = 0. Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cell_backward.hpp"
#include "cell_step.hpp"
#include "gradatlas/activations.hpp"
#include "gradatlas/recurrent.hpp"

namespace gradatlas::blocks {

struct GruCell {
    static constexpr Cell kind = Cell::gru;
    static constexpr int gates = 3;
    static constexpr int state_units = 1;
    // [r z n | r' z' n' | W_hn h_{t-1} (scaled) | h_{t-1} | h]
    static constexpr int cache_units = 9;
    static constexpr int derivatives_at = 3;
    static constexpr bool reports_cell_gradient = false;
    static constexpr bool direct_path = true;
    static bool forget_slice(std::int64_t, std::int64_t) { return false; }

    template <typename T>
    static void forward(const RecurrentConfig&, const CellStep<T>& step, T* pre, T* h, T*,
                        T* cache) {
        const std::int64_t n = step.n;
        T* gate = cache;           // r z n
        T* dgate = cache + 3 * n;  // their derivatives
        T* hn = cache + 6 * n;
        T* h_prev = cache + 7 * n;
        T* out = cache + 8 * n;
        const T s = step.s, u = step.u;
        for (std::int64_t i = 0; i < n; ++i) hn[i] = s * pre[2 * n + i];  // b_hn = 0
        step.preactivation(0, 2 * n, pre);
        apply_activation(Activation::sigmoid, 0.0, pre, gate, dgate, 2 * std::size_t(n));
        const T* ih = step.ih ? step.ih + 2 * n : nullptr;
        const T* b = step.b + 2 * n;
        T* pre_n = pre + 2 * n;
        for (std::int64_t i = 0; i < n; ++i)
            pre_n[i] = (ih ? u * ih[i] + b[i] : b[i]) + gate[i] * hn[i];
        apply_activation(Activation::tanh, 0.0, pre_n, gate + 2 * n, dgate + 2 * n, std::size_t(n));
        std::copy(h, h + n, h_prev);
        for (std::int64_t i = 0; i < n; ++i)
            out[i] = (T(1) - gate[n + i]) * gate[2 * n + i] + gate[n + i] * h_prev[i];
        std::copy(out, out + n, h);
    }

    // p = s dl/d(pre) from vh = dl/dh_t, which becomes its direct path z * dl/dh_t.
    template <typename T>
    static double backward(T s, std::int64_t n, const T* cache, T* vh, T*, T*, T* p) {
        detail::gru_backward_row(s, n, cache, vh, p);
        return 0.0;
    }
};

}  // namespace gradatlas::blocks
