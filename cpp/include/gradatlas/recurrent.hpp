// The recurrent engine: T steps of a vanilla RNN, LSTM or GRU cell, forward
// and exact log-space backpropagation through time, for a group of
// configurations that share their standard random matrices.
//
// Layouts and gate orders are PyTorch's (torch.nn.RNNCell / LSTMCell / GRUCell):
//   W_ih (G n x n_in), W_hh (G n x n), b_ih and b_hh (G n), G = 1, 4, 3,
//   LSTM gates [i, f, g, o], GRU gates [r, z, n].
//   rnn:  h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
//   lstm: c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
//   gru:  n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)),
//         h_t = (1 - z) * n + z * h_{t-1}
// With common random numbers W_hh = s * Z_hh, W_ih = u * Z_ih with the
// standard matrices Z shared by the group; inputs x_t, h_0 and c_0 are shared
// standard draws scaled per configuration. b_hh = 0; b_ih = t * z_b plus the
// forget bias on the LSTM's f slice.
#pragma once

#include <cstdint>
#include <vector>

#include "gradatlas/activations.hpp"
#include "gradatlas/progress.hpp"
#include "gradatlas/run.hpp"

namespace gradatlas {

// The integer values are part of the binding contract; append only.
enum class Cell : int { rnn = 0, lstm = 1, gru = 2 };

// Distribution of each n x n gate block of Z_hh. Append only.
enum class RecurrentDist : int {
    normal = 0,      // N(0, 1)
    uniform = 1,     // U[-sqrt3, sqrt3]
    orthogonal = 2,  // Haar orthogonal (sign-fixed QR), one per gate block
    identity = 3,    // I in every gate block
};

// Number of gates G of a cell.
int gate_count(Cell cell);

struct RecurrentConfig {
    Activation activation = Activation::tanh;  // rnn only
    double activation_param = 0.0;
    double weight_scale = 0.0;     // s: W_hh = s Z_hh
    double input_scale = 0.0;      // u: W_ih x_t = u Z_ih xi_t (input weight scale times sigma_u)
    double bias_scale = 0.0;       // t: b_ih = t z_b (+ forget_bias on the f slice)
    double forget_bias = 0.0;      // lstm only
    double h0_scale = 0.0;         // h_0 = h0_scale * z_h (and c_0 = h0_scale * z_c)
    bool loss_every_step = false;  // loss on every h_t, not only on h_T
};

struct RecurrentGroup {
    std::uint64_t seed = 0;
    Cell cell = Cell::rnn;
    RecurrentDist dist = RecurrentDist::normal;
    std::int64_t width = 1;        // n
    std::int64_t input_width = 1;  // n_in
    std::int64_t steps = 1;        // T
    std::int64_t batch = 1;
    Loss loss = Loss::projection;
    // Steps between stored state checkpoints; 0 lets plan_recurrent_memory choose.
    std::int64_t checkpoint_every = 0;
    std::int64_t store_budget_bytes = std::int64_t(1) << 30;
    int n_threads = 1;
};

// Caller-owned output buffers, row-major (C x (T + 1)) over steps t = 0..T,
// scalars (C).
struct RecurrentOutputs {
    double* log10_grad_norm = nullptr;       // mean_b log10 |dl_b/dh_t|
    double* log10_grad_norm_rms = nullptr;   // log10 sqrt(mean_b |dl_b/dh_t|^2)
    double* log10_cell_grad_norm = nullptr;  // mean_b log10 |dl_b/dc_t| (lstm; NaN otherwise)
    double* q = nullptr;                     // mean over batch and units of h_t^2
    double* saturated_fraction = nullptr;    // gate or activation units with |derivative| < 1e-3
    std::int64_t* first_nonfinite_step = nullptr;  // -1 when none
    std::int32_t* nonfinite_kind = nullptr;        // NonFinite code
};

MemoryPlan plan_recurrent_memory(const RecurrentGroup& group, std::int64_t n_configs,
                                 std::int64_t value_bytes);

template <typename T>
RunStatus run_recurrent_group(const RecurrentGroup& group,
                              const std::vector<RecurrentConfig>& configs,
                              const RecurrentOutputs& out, const ProgressHook& hook);

// The standard arrays a recurrent run uses (for materialize and tests).
// Z_hh (G n x n) of the group's distribution.
template <typename T>
void recurrent_hidden_weights(std::uint64_t seed, Cell cell, RecurrentDist dist, std::int64_t n,
                              T* out);
// Z_ih (G n x n_in), standard normal.
template <typename T>
void recurrent_input_weights(std::uint64_t seed, Cell cell, std::int64_t n, std::int64_t n_in,
                             T* out);
// z_b (G n), standard normal.
template <typename T>
void recurrent_biases(std::uint64_t seed, Cell cell, std::int64_t n, T* out);
// xi_t (B x n_in) for step t >= 1, standard normal.
template <typename T>
void recurrent_inputs(std::uint64_t seed, std::int64_t step, std::int64_t batch, std::int64_t n_in,
                      T* out);
// z_h (which = 0) or z_c (which = 1), (B x n), standard normal.
template <typename T>
void recurrent_initial_state(std::uint64_t seed, int which, std::int64_t batch, std::int64_t n,
                             T* out);
// u_t (B x n), the projection of the loss at step t.
template <typename T>
void recurrent_projections(std::uint64_t seed, std::int64_t step, std::int64_t batch,
                           std::int64_t n, T* out);

}  // namespace gradatlas
