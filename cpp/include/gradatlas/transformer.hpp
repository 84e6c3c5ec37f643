// The transformer engine: a stack of encoder blocks (softmax attention and an
// MLP, each a sublayer on the residual stream), forward and exact log-space
// backpropagation, for a group of configurations that share their standard
// random matrices.
//
// A sample is one sequence of T tokens of width d; sublayer p = 1..P maps the
// stream x_{p-1} (T x d) to x_p:
//   u   = N(x_{p-1}) with pre-normalization, else x_{p-1}
//   y   = a x_{p-1} + alpha f_p(u)        (a: the skip scale, 1 but for DeepNorm)
//   x_p = N(y) with post-normalization, else y
// N normalizes each token (layer norm or RMS norm, no affine). The branch f_p
// is, alternately when the blocks have attention:
//   attention: [Q K V] = u Wqkv^T + bqkv, per head softmax(Q_h K_h^T / sqrt(d_h)
//              [+ causal mask]) V_h, concatenated, then O Wo^T + bo;
//   MLP:       phi(u W1^T + b1) W2^T + b2, W1 (m x d), W2 (d x m).
// With common random numbers each weight matrix is s * Z (Z standard normal,
// shared by the group; s per configuration and projection) and each bias t * z.
#pragma once

#include <cstdint>
#include <vector>

#include "gradatlas/activations.hpp"
#include "gradatlas/progress.hpp"
#include "gradatlas/run.hpp"

namespace gradatlas {

// The projections of a sublayer, the columns of TransformerOutputs'
// log10_weight_grad_norm. Append only.
enum class Projection : int {
    query = 0,
    key = 1,
    value = 2,
    attn_out = 3,
    mlp_in = 4,
    mlp_out = 5
};
inline constexpr int projection_count = 6;

struct TransformerConfig {
    Activation activation = Activation::gelu;  // the MLP's phi
    double activation_param = 0.0;
    bool pre_norm = false;   // u = N(x)
    bool post_norm = false;  // x_p = N(y)
    bool rms_norm = false;   // N is RMS norm (else layer norm)
    bool causal = false;     // token t attends to tokens <= t
    double skip_scale = 1.0;
    double alpha = 1.0;
    double weight_scale[projection_count] = {0, 0, 0, 0, 0, 0};  // s per Projection
    double bias_scale = 0.0;                                     // t of every bias
    double input_std = 1.0;                                      // x_0 = input_std * xi
};

struct TransformerGroup {
    std::uint64_t seed = 0;
    std::int64_t blocks = 1;     // N; P = 2N sublayers with attention, N without
    std::int64_t width = 1;      // d
    std::int64_t heads = 1;      // H, dividing d
    std::int64_t seq_len = 1;    // T
    std::int64_t mlp_width = 1;  // m
    bool attention = true;
    std::int64_t batch = 1;
    Loss loss = Loss::projection;  // over every token of x_P
    double norm_eps = 1e-5;
    // Sublayers between stored checkpoints; 0 lets plan_transformer_memory choose.
    std::int64_t checkpoint_every = 0;
    std::int64_t store_budget_bytes = std::int64_t(1) << 30;
    int n_threads = 1;

    std::int64_t sublayers() const { return attention ? 2 * blocks : blocks; }
    // Sublayer p >= 1 is attention when the blocks have it and p is odd.
    bool is_attention(std::int64_t p) const { return attention && p % 2 == 1; }
};

// Caller-owned output buffers: per position p = 0..P (the stream x_p; 0 is the
// input), row-major C x (P + 1); the weight gradients C x (P + 1) x 6; scalars C.
struct TransformerOutputs {
    double* log10_grad_norm = nullptr;      // mean_b log10 |dl_b/dx_p|
    double* log10_grad_norm_rms = nullptr;  // log10 sqrt(mean_b |dl_b/dx_p|^2)
    // log10 |dl/dW| of the batch-mean loss for sublayer p's projections (NaN for
    // those it does not have and at p = 0).
    double* log10_weight_grad_norm = nullptr;
    double* q = nullptr;             // mean over samples, tokens and units of x_p^2
    double* token_cosine = nullptr;  // mean cosine similarity of a sample's distinct tokens
    double* attention_entropy =
        nullptr;  // mean entropy (nats) of the attention rows; NaN off attention
    std::int64_t* first_nonfinite_sublayer = nullptr;  // -1 when none
    std::int32_t* nonfinite_kind = nullptr;            // NonFinite code
};

MemoryPlan plan_transformer_memory(const TransformerGroup& group, std::int64_t n_configs,
                                   std::int64_t value_bytes);

template <typename T>
RunStatus run_transformer_group(const TransformerGroup& group,
                                const std::vector<TransformerConfig>& configs,
                                const TransformerOutputs& out, const ProgressHook& hook);

// The standard arrays a run uses (for materialize and tests). Sublayer p's
// matrices, row-major: attention Z_qkv (3d x d) then Z_o (d x d); MLP Z_1
// (m x d) then Z_2 (d x m); `weights` receives both, one after the other.
template <typename T>
void transformer_weights(const TransformerGroup& g, std::int64_t p, T* weights);
// Its biases: attention z_qkv (3d) then z_o (d); MLP z_1 (m) then z_2 (d).
template <typename T>
void transformer_biases(const TransformerGroup& g, std::int64_t p, T* biases);
// Elements of transformer_weights / transformer_biases for sublayer p.
std::int64_t transformer_weight_count(const TransformerGroup& g, std::int64_t p);
std::int64_t transformer_bias_count(const TransformerGroup& g, std::int64_t p);
// xi (B x T x d): the standard inputs; u (B x T x d): the loss's projections.
template <typename T>
void transformer_inputs(const TransformerGroup& g, T* xi);
template <typename T>
void transformer_projections(const TransformerGroup& g, T* u);

}  // namespace gradatlas
