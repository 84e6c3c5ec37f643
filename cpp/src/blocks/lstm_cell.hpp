// The LSTM cell, gates [i f g o] as torch.nn.LSTMCell:
//   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t). Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../log_space.hpp"
#include "cell_backward.hpp"
#include "cell_step.hpp"
#include "gradatlas/activations.hpp"
#include "gradatlas/recurrent.hpp"

namespace gradatlas::blocks {

struct LstmCell {
    static constexpr Cell kind = Cell::lstm;
    static constexpr int gates = 4;
    static constexpr int state_units = 2;
    // [i f g o | i' f' g' o' | c_{t-1} | tanh c_t | tanh' c_t | h]
    static constexpr int cache_units = 12;
    static constexpr int derivatives_at = 4;
    static constexpr bool reports_cell_gradient = true;
    static constexpr bool direct_path = false;
    static bool forget_slice(std::int64_t j, std::int64_t n) { return j >= n && j < 2 * n; }

    template <typename T>
    static void forward(const RecurrentConfig&, const CellStep<T>& step, T* pre, T* h, T* cell,
                        T* cache) {
        const std::int64_t n = step.n;
        const std::size_t un = std::size_t(n);
        step.preactivation(0, gates * n, pre);
        T* gate = cache;           // i f g o
        T* dgate = cache + 4 * n;  // their derivatives
        T* c_prev = cache + 8 * n;
        T* tanh_c = cache + 9 * n;
        T* dtanh_c = cache + 10 * n;
        T* out = cache + 11 * n;
        apply_activation(Activation::sigmoid, 0.0, pre, gate, dgate, 2 * un);
        apply_activation(Activation::tanh, 0.0, pre + 2 * n, gate + 2 * n, dgate + 2 * n, un);
        apply_activation(Activation::sigmoid, 0.0, pre + 3 * n, gate + 3 * n, dgate + 3 * n, un);
        std::copy(cell, cell + n, c_prev);
        for (std::int64_t i = 0; i < n; ++i)
            cell[i] = gate[n + i] * c_prev[i] + gate[i] * gate[2 * n + i];
        apply_activation(Activation::tanh, 0.0, cell, tanh_c, dtanh_c, un);
        for (std::int64_t i = 0; i < n; ++i) out[i] = gate[3 * n + i] * tanh_c[i];
        std::copy(out, out + n, h);
    }

    // vh = dl/dh_t and vc = dl/dc_t from the later step: dc receives dl/dc_t
    // through every path, vc becomes dl/dc_{t-1}; returns log10 |dl/dc_t|.
    template <typename T>
    static double backward(T s, std::int64_t n, const T* cache, T* vh, T* vc, T* dc, T* p) {
        detail::lstm_backward_row(s, n, cache, vh, vc, dc, p);
        return 0.5 * std::log10(detail::dot(dc, dc, n));
    }
};

}  // namespace gradatlas::blocks
