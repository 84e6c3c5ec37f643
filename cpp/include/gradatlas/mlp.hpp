// The feed-forward engine: forward and exact log-space backward passes through
// a group of configurations that share their standard random matrices.
//
//   h_l = s_l Z_l a_{l-1} + t_l z_l            (s_l = weight scale, t_l = bias scale)
//   a_l = phi(N(h_l))                          plain
//   a_l = a_{l-1} + alpha * phi(N(h_l))        residual
// With a skip span S > 1 (residual blocks of S layers, e.g. a bottleneck's
// three convolutions) the residual configurations add the skip only at the
// layers l that close a block (l a multiple of S), from the block's input:
//   a_l = a_{l-S} + alpha * phi(N(h_l)), and a_l = phi(N(h_l)) inside it.
// With c2f_bottlenecks = n > 0 each block of S = 2n + 2 layers is YOLOv8's C2f,
// numbered 1..S inside the block (a_0 its input):
//   layer 1 writes [y0 | y1] (equal halves); a_1 = y1 goes on, y0 only to layer S;
//   layers 2k, 2k + 1 (k = 1..n) are a bottleneck: a_{2k+1} = a_{2k-1} + alpha
//   phi(N(h_{2k+1})) (residual configurations; the branch alone otherwise);
//   layer S reads the concatenation cat(y0, a_1, a_3, ..., a_{2n+1}) along channels.
// Layer 1's reported quantities cover all its outputs, y0 included.
//
// N is the identity, batch norm (per unit over the batch) or layer norm (per
// sample over units), without affine parameters. All configurations of a group
// share seed, widths, batch and weight distribution, so each Z_l is drawn once
// for all of them. A group may also ask for several output depths ("heads"):
// the network truncated at depth D_k is the first D_k layers of the deepest one,
// so one forward pass serves every head and each head adds only its backward pass.
#pragma once

#include <cstdint>
#include <vector>

#include "gradatlas/activations.hpp"
#include "gradatlas/init.hpp"
#include "gradatlas/progress.hpp"
#include "gradatlas/run.hpp"

namespace gradatlas {

enum class Norm : int { none = 0, batch = 1, layer = 2 };

struct MlpConfig {
    Activation activation = Activation::tanh;
    double activation_param = 0.0;
    std::vector<double> weight_scale;  // per layer, length L (s_l)
    std::vector<double> bias_scale;    // per layer, length L (t_l)
    bool residual = false;
    double alpha = 1.0;
    Norm norm = Norm::none;
};

// A convolutional network: every layer a 2-D convolution with stride 1 and
// same padding over height x width images, kernel K x K, as
// torch.nn.Conv2d(C_in, C_out, K, padding=K // 2, padding_mode="zeros" or
// "circular"); rows hold pixels x channels values, channel fastest, so width
// n_l is height * width * C_l. channels = 0: dense layers.
struct Conv2dGeometry {
    std::int64_t channels = 0;  // > 0: convolutional (C_l = n_l / (height * width))
    std::int64_t height = 0;
    std::int64_t width = 0;
    std::int64_t kernel = 3;            // odd; every layer's unless `kernels` is given
    std::vector<std::int64_t> kernels;  // K_1 .. K_L, or empty
    bool circular = false;
    // Z_l's centre tap a Haar orthogonal C x C matrix, the other taps zero
    // (Xiao et al. 2018); otherwise every tap is drawn from `dist`.
    bool delta_orthogonal = false;
};

struct MlpGroup {
    std::uint64_t seed = 0;
    std::vector<std::int64_t> widths;  // n_0 .. n_L
    // Output depths D_1 < ... < D_H (each in 1..L); empty means {L}.
    std::vector<std::int64_t> heads;
    Loss loss = Loss::projection;
    std::int64_t batch = 1;
    double input_std = 1.0;
    WeightDist dist = WeightDist::normal;
    double norm_eps = 1e-5;
    // Layers between stored activation checkpoints; 0 lets plan_mlp_memory choose.
    std::int64_t checkpoint_every = 0;
    // Bytes the engine may use to keep every layer for the backward pass
    // (no recomputation) before it falls back to sqrt(L) checkpointing.
    std::int64_t store_budget_bytes = std::int64_t(1) << 30;
    int n_threads = 1;
    Conv2dGeometry conv;  // dense layers unless conv.channels > 0
    // Layers per residual block (see the top of this file); 1: a skip around every layer.
    std::int64_t skip_span = 1;
    // > 0: the blocks are C2f blocks of that many bottlenecks (skip_span = 2n + 2).
    std::int64_t c2f_bottlenecks = 0;
};

// Caller-owned output buffers, row-major. Gradient arrays are (C x H x L), NaN
// past a head's depth; forward arrays are (C x L); scalars are (C x H).
struct MlpOutputs {
    double* log10_grad_norm = nullptr;              // mean_b log10 |dl_b/dh_l|
    double* log10_grad_norm_rms = nullptr;          // log10 sqrt(mean_b |dl_b/dh_l|^2)
    double* log10_weight_grad_norm = nullptr;       // log10 |d(mean_b l_b)/dW_l|_F
    double* q = nullptr;                            // mean over batch and units of h_l^2
    double* c = nullptr;                            // mean cosine between samples' h_l
    double* saturated_fraction = nullptr;           // |phi'(N(h_l))| < 1e-3
    double* dead_fraction = nullptr;                // phi'(N(h_l)) == 0
    std::int64_t* first_nonfinite_layer = nullptr;  // 0 when none
    std::int32_t* nonfinite_kind = nullptr;         // NonFinite code
};

// How the engine will lay out memory for this group and number of configs;
// with_norm: whether any configuration normalizes (its pre-activations are kept).
// Every layer is kept when it fits the budget; then every layer but its random
// matrix (drawn again backward); then sqrt(L) checkpoints and recomputation.
MemoryPlan plan_mlp_memory(const MlpGroup& group, std::int64_t n_configs, std::int64_t value_bytes,
                           bool with_norm);

// Runs the group. Throws std::invalid_argument on inconsistent input. When the
// hook cancels, returns RunStatus::cancelled and the outputs are incomplete.
template <typename T>
RunStatus run_mlp_group(const MlpGroup& group, const std::vector<MlpConfig>& configs,
                        const MlpOutputs& out, const ProgressHook& hook);

}  // namespace gradatlas
