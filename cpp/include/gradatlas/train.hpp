// Short training runs of a feed-forward network on a teacher-student regression,
// with SGD, momentum or Adam and optional gradient clipping, recording how
// vanishing and exploding gradients show up in the updates.
//
// Task: inputs x ~ N(0, input_std^2) fresh each step (stream `training`, id =
// step), targets y = T x with a fixed linear teacher T = Z_T / sqrt(n_0) (Z_T
// standard normal, id 0). Loss: L = (1/B) sum_b 1/2 |a_L^(b) - y^(b)|^2.
// The network starts from the same weights as run_mlp_group for the same seed.
//
// Gradients are computed in log space (per-sample backward vectors kept at unit
// norm with their log10 scale) and materialized for the update only after the
// clipping coefficient is known, so a gradient norm of 10^60 is reported
// exactly and, when clipped by norm, applied exactly; without clipping it is
// materialized in the float type and overflows as real training would.
#pragma once

#include <cstdint>
#include <vector>

#include "gradatlas/activations.hpp"
#include "gradatlas/init.hpp"
#include "gradatlas/progress.hpp"
#include "gradatlas/run.hpp"

namespace gradatlas {

// The integer values are part of the binding contract; append only.
enum class Optimizer : int { sgd = 0, momentum = 1, adam = 2 };
enum class ClipMode : int { none = 0, norm = 1, value = 2 };

struct TrainSetup {
    std::uint64_t seed = 0;
    std::vector<std::int64_t> widths;  // n_0 .. n_L
    std::int64_t batch = 16;
    double input_std = 1.0;
    WeightDist dist = WeightDist::normal;
    Activation activation = Activation::tanh;
    double activation_param = 0.0;
    std::vector<double> weight_scale;  // initial W_l = s_l Z_l
    std::vector<double> bias_scale;    // initial b_l = t_l z_l
    bool residual = false;
    double alpha = 1.0;
    std::int64_t steps = 1;
    double lr = 0.01;
    // Per-layer learning-rate multipliers (a width parametrization's: muP, NTK); empty: all 1.
    std::vector<double> lr_scale;
    Optimizer optimizer = Optimizer::sgd;
    double momentum = 0.9;              // torch.optim.SGD(momentum=...), no dampening
    double beta1 = 0.9, beta2 = 0.999;  // torch.optim.Adam
    double eps = 1e-8;
    ClipMode clip = ClipMode::none;
    double clip_threshold = 1.0;  // max_norm or clip_value
    int n_threads = 1;
};

// Caller-owned outputs: per step (K), per step and layer (K x L).
struct TrainOutputs {
    double* loss = nullptr;
    double* log10_global_grad_norm = nullptr;      // all parameters, before clipping
    std::uint8_t* clipped = nullptr;               // the clip changed the gradient
    double* log10_grad_norm = nullptr;             // log10 |dL/dW_l|_F, before clipping
    double* update_ratio = nullptr;                // |Delta W_l|_F / |W_l|_F
    std::int64_t* first_nonfinite_step = nullptr;  // scalar: -1 when training stayed finite
    // Optional (null: not recorded), K x L: the coordinate check of Yang et al. (muP) on a fixed
    // probe batch (step 1's inputs), with the weights after k updates at row k: the mean |a_l| and
    // |h_l| over the probe's samples and units, and the mean |a_l - a_l at initialization|.
    double* activation_size = nullptr;
    double* preactivation_size = nullptr;
    double* update_size = nullptr;
};

template <typename T>
RunStatus train_mlp(const TrainSetup& setup, const TrainOutputs& out, const ProgressHook& hook);

// The teacher Z_T (n_L x n_0, standard normal) and the inputs xi of step k
// (B x n_0, standard normal; x = input_std * xi), for materialize and tests.
template <typename T>
void training_teacher(std::uint64_t seed, std::int64_t n_out, std::int64_t n_in, T* out);
template <typename T>
void training_inputs(std::uint64_t seed, std::int64_t step, std::int64_t batch, std::int64_t n_in,
                     T* out);

}  // namespace gradatlas
