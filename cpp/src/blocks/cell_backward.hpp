// The elementwise part of one LSTM or GRU step backward, for one row, as free
// functions compiled per instruction set (target_clones.hpp): the engine's own
// translation unit is built for baseline x86-64. Internal to the core.
//
// Row cache layouts are those of lstm_cell.hpp and gru_cell.hpp. p receives
// s * dl/d(pre-activation of W_hh h_{t-1}) per gate.
#pragma once

#include <cstdint>

namespace gradatlas::detail {

// LSTM: vh = dl/dh_t, vc = dl/dc_t from the later step; dc receives dl/dc_t
// through every path and vc becomes dl/dc_{t-1} (less the path through h_{t-1}).
void lstm_backward_row(float s, std::int64_t n, const float* cache, const float* vh, float* vc,
                       float* dc, float* p);
void lstm_backward_row(double s, std::int64_t n, const double* cache, const double* vh, double* vc,
                       double* dc, double* p);

// GRU: vh = dl/dh_t becomes its direct path z * dl/dh_t.
void gru_backward_row(float s, std::int64_t n, const float* cache, float* vh, float* p);
void gru_backward_row(double s, std::int64_t n, const double* cache, double* vh, double* p);

}  // namespace gradatlas::detail
