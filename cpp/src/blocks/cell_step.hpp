// What every recurrent cell block sees of one row at one step, and what each
// cell provides. Internal.
//
// A cell block (rnn_cell.hpp, lstm_cell.hpp, gru_cell.hpp) is a struct with
//   gates           G: rows of W_hh and W_ih are G n
//   state_units     what the chain carries, in units of n: 1 (h) or 2 (h, c)
//   cache_units     what a step keeps per row for the backward pass
//   derivatives_at  where the cache's derivatives (G n of them) start, in units of n
//   reports_cell_gradient   whether dl/dc_t is reported (the LSTM's)
//   direct_path     whether dl/dh_{t-1} has a term besides W_hh^T (the GRU's z path)
//   forget_slice(j, n)      whether b_ih[j] gets the forget bias
//   forward(cfg, step, pre, h, c, cache)
//   backward(s, n, cache, vh, vc, dc, p) -> log10 |dl/dc_t| relative to the row's scale
// The chain (recurrent.cpp) owns the products, the rows and the log-space scale.
#pragma once

#include <cstdint>

namespace gradatlas::blocks {

// The row's pre-activation terms: s Z_hh h_{t-1} + u Z_ih x_t + b_ih.
template <typename T>
struct CellStep {
    T s;          // weight scale of the row's configuration
    T u;          // input scale (times sigma_u)
    const T* hh;  // Z_hh h_{t-1} (G n), unscaled; the cell's `pre` overwrites it in place
    const T* ih;  // Z_ih x_t (G n), shared by the row's configuration; null without inputs
    const T* b;   // b_ih (G n)
    std::int64_t n;

    void preactivation(std::int64_t first, std::int64_t last, T* pre) const {
        for (std::int64_t j = first; j < last; ++j)
            pre[j] = ih ? (s * hh[j] + u * ih[j]) + b[j] : s * hh[j] + b[j];
    }
};

}  // namespace gradatlas::blocks
