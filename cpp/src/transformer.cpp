#include "gradatlas/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "blocks/activation.hpp"
#include "blocks/attention.hpp"
#include "blocks/rows.hpp"
#include "buffer.hpp"
#include "engine/chain_driver.hpp"
#include "engine/first_nonfinite.hpp"
#include "engine/memory_plan.hpp"
#include "engine/unit_rows.hpp"
#include "gradatlas/det_gemm.hpp"
#include "gradatlas/init.hpp"
#include "gradatlas/rng.hpp"
#include "log_space.hpp"
#include "normalization.hpp"
#include "row_scan.hpp"
#include "thread_count.hpp"

namespace gradatlas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::size_t sz(std::int64_t v) {
    return static_cast<std::size_t>(v);
}

void check_group(const TransformerGroup& g, const std::vector<TransformerConfig>& configs) {
    auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
    if (g.blocks < 1 || g.width < 1 || g.heads < 1 || g.seq_len < 1 || g.mlp_width < 1 ||
        g.batch < 1 || g.n_threads < 1)
        fail("blocks, width, heads, seq_len, mlp_width, batch and n_threads must be >= 1");
    if (g.width % g.heads != 0) fail("heads must divide width");
    if (!(g.norm_eps > 0)) fail("norm_eps must be > 0");
    if (configs.empty()) fail("a group needs at least one configuration");
    for (const auto& c : configs)
        if (int(c.activation) < 0 || int(c.activation) >= activation_count)
            fail("unknown activation code");
}

// The bytes one sublayer keeps for its backward pass, in values of T and in
// doubles: the branch's input and the stream out (the backward pass needs no
// stream in), and the branch's own
// (attention: Q, K, V, the attention matrices and the heads' outputs; MLP:
// phi and phi' of the hidden pre-activations); per token the two norms' inverse scales.
struct SublayerSize {
    std::int64_t values;
    std::int64_t doubles;
};

SublayerSize sublayer_size(const TransformerGroup& g, std::int64_t n_configs) {
    const std::int64_t rows = n_configs * g.batch, tokens = rows * g.seq_len;
    const std::int64_t attention =
        g.attention ? 4 * tokens * g.width + rows * g.heads * g.seq_len * g.seq_len : 0;
    const std::int64_t mlp = 2 * tokens * g.mlp_width;
    return {2 * tokens * g.width + std::max(attention, mlp), 2 * tokens};
}

std::int64_t max_weights(const TransformerGroup& g) {
    return std::max(g.attention ? 4 * g.width * g.width : 0, 2 * g.mlp_width * g.width);
}

// What a sublayer keeps, for a run of consecutive sublayers plus one scratch
// slot for the forward passes that keep nothing.
template <typename T>
class SublayerStore {
public:
    void allocate(const TransformerGroup& g, std::int64_t n_configs, std::int64_t slots,
                  int threads) {
        const SublayerSize s = sublayer_size(g, n_configs);
        size_ = s;
        tokens_ = n_configs * g.batch * g.seq_len;
        width_ = g.width;
        values_.resize(sz((slots + 1) * s.values), threads);
        doubles_.resize(sz((slots + 1) * s.doubles), threads);
        slots_ = slots;
    }
    std::int64_t first = 1;
    // Slot of sublayer p, or the scratch slot.
    std::int64_t slot(std::int64_t p, bool store) const { return store ? p - first : slots_; }

    T* u(std::int64_t s) { return values(s); }
    T* x_out(std::int64_t s) { return values(s) + tokens_ * width_; }
    T* branch(std::int64_t s) { return values(s) + 2 * tokens_ * width_; }
    double* inv_pre(std::int64_t s) { return doubles_.data() + s * size_.doubles; }
    double* inv_post(std::int64_t s) { return inv_pre(s) + tokens_; }

private:
    T* values(std::int64_t s) { return values_.data() + s * size_.values; }
    detail::Buffer<T> values_;
    detail::Buffer<double> doubles_;
    SublayerSize size_{0, 0};
    std::int64_t tokens_ = 0, width_ = 0, slots_ = 0;
};

// Rows: sample rows r = c * B + b (T * d values each), token rows
// r * T + t (d values each).
template <typename T>
class TransformerEngine {
public:
    TransformerEngine(const TransformerGroup& g, const std::vector<TransformerConfig>& cfg,
                      const TransformerOutputs& out)
        : g_(g),
          cfg_(cfg),
          out_(out),
          configs_(std::int64_t(cfg.size())),
          rows_(configs_ * g.batch),
          tokens_(rows_ * g.seq_len),
          d_(g.width),
          m_(g.mlp_width),
          positions_(g.sublayers()),
          threads_(detail::threads_for(tokens_ * d_ * std::max(d_, m_), g.n_threads)),
          plan_(plan_transformer_memory(g, configs_, sizeof(T))) {}

    RunStatus run(const ProgressHook& hook) {
        return engine::run_chain(*this, positions_, plan_.checkpoint_every, hook);
    }

    // --- the chain (see engine/chain_driver.hpp) ------------------------------

    int threads() const { return threads_; }

    void allocate() {
        const std::int64_t stream = tokens_ * d_, wide = tokens_ * std::max(3 * d_, m_);
        for (auto* b : {&x_, &y_, &branch_out_, &grad_, &gy_, &gout_, &gu_, &g_heads_})
            b->assign(sz(stream), T(0));
        for (auto* b : {&g_wide_, &g_scaled_}) b->assign(sz(wide), T(0));
        wg_t_.assign(sz(std::max(3 * d_, m_) * g_.batch * g_.seq_len), T(0));
        wg_rows_.assign(wg_t_.size(), T(0));
        wg_.assign(sz(d_ * std::max(d_, m_)), T(0));
        if (g_.loss == Loss::sum_squares) head_output_.assign(sz(stream), T(0));
        weights_.resize(sz(max_weights(g_)), threads_);
        biases_.assign(sz(3 * d_ + m_ + d_), T(0));
        const std::int64_t k = plan_.checkpoint_every;
        checkpoints_.resize(sz(((positions_ + k - 1) / k) * stream), threads_);
        store_.allocate(g_, configs_, k, threads_);
        scale_.assign(sz(rows_), 0.0);
        entropy_.assign(sz(rows_ * g_.heads), 0.0);
        forward_bad_.reset(configs_);
        backward_bad_.reset(configs_);
        const std::int64_t per_position = configs_ * (positions_ + 1);
        for (double* a : {out_.log10_grad_norm, out_.log10_grad_norm_rms, out_.q, out_.token_cosine,
                          out_.attention_entropy})
            std::fill(a, a + per_position, kNaN);
        std::fill(out_.log10_weight_grad_norm,
                  out_.log10_weight_grad_norm + per_position * projection_count, kNaN);
    }

    void begin_forward() {
        const std::int64_t per_sample = g_.seq_len * d_;
        transformer_inputs(g_, x_.data());
        for (std::int64_t c = configs_ - 1; c >= 0; --c) {
            const T s = T(cfg_[sz(c)].input_std);
            for (std::int64_t i = 0; i < g_.batch * per_sample; ++i)
                x_[sz(c * g_.batch * per_sample + i)] = s * x_[sz(i)];
        }
        record_stream(0, x_.data());
    }

    void save_state(std::int64_t slot) {
        std::copy(x_.begin(), x_.end(), checkpoints_.data() + slot * tokens_ * d_);
    }
    void load_state(std::int64_t slot) {
        const T* c = checkpoints_.data() + slot * tokens_ * d_;
        std::copy(c, c + tokens_ * d_, x_.begin());
    }

    // Sublayer p from the stream in x_.
    void forward(std::int64_t p, engine::Pass pass) {
        if (pass.store) store_.first = pass.first;
        const std::int64_t s = store_.slot(p, pass.store);
        const T* x_in = x_.data();
        T* u = store_.u(s);
        normalize_tokens(x_in, u, store_.inv_pre(s),
                         [](const TransformerConfig& c) { return c.pre_norm; });
        draw(p);
        if (g_.is_attention(p))
            attention_forward(p, u, store_.branch(s), pass.record);
        else
            mlp_forward(u, store_.branch(s));
        // y = a x + alpha f(u), then x_p = N(y) where the configuration normalizes after.
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t tr = 0; tr < tokens_; ++tr) {
            const TransformerConfig& c = config_of_token(tr);
            const T a = T(c.skip_scale), alpha = T(c.alpha);
            for (std::int64_t i = 0; i < d_; ++i)
                y_[sz(tr * d_ + i)] = a * x_in[tr * d_ + i] + alpha * branch_out_[sz(tr * d_ + i)];
        }
        normalize_tokens(y_.data(), store_.x_out(s), store_.inv_post(s),
                         [](const TransformerConfig& c) { return c.post_norm; });
        std::copy(store_.x_out(s), store_.x_out(s) + tokens_ * d_, x_.begin());
        if (pass.record) {
            record_stream(p, x_.data());
            if (p == positions_ && !head_output_.empty()) head_output_ = x_;
        }
    }

    // Sublayer p back: grad_ holds dl/dx_p (unit sample rows, log10 scales in
    // scale_); afterwards dl/dx_{p-1}.
    void backward(std::int64_t p, std::int64_t first) {
        store_.first = first;
        if (p == positions_) seed();
        const std::int64_t s = store_.slot(p, true);
        // gy = dl/dy: through the post-norm where there is one.
        gy_ = grad_;
        normalize_tokens_backward(store_.x_out(s), gy_.data(), store_.inv_post(s),
                                  [](const TransformerConfig& c) { return c.post_norm; });
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t tr = 0; tr < tokens_; ++tr) {
            const T alpha = T(config_of_token(tr).alpha);
            for (std::int64_t i = 0; i < d_; ++i)
                gout_[sz(tr * d_ + i)] = alpha * gy_[sz(tr * d_ + i)];
        }
        draw(p);
        if (g_.is_attention(p))
            attention_backward(p, store_.u(s), store_.branch(s));
        else
            mlp_backward(p, store_.u(s), store_.branch(s));
        // gx = a gy + (through the pre-norm) gu.
        normalize_tokens_backward(store_.u(s), gu_.data(), store_.inv_pre(s),
                                  [](const TransformerConfig& c) { return c.pre_norm; });
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t tr = 0; tr < tokens_; ++tr) {
            const T a = T(config_of_token(tr).skip_scale);
            for (std::int64_t i = 0; i < d_; ++i)
                grad_[sz(tr * d_ + i)] = a * gy_[sz(tr * d_ + i)] + gu_[sz(tr * d_ + i)];
        }
        renormalize();
        record_gradient(p - 1);
    }

    void end_backward() {}

    void finish() {
        for (std::int64_t c = 0; c < configs_; ++c)
            engine::report_nonfinite(forward_bad_, c, backward_bad_, c, positions_, -1,
                                     out_.first_nonfinite_sublayer + c, out_.nonfinite_kind + c);
    }

private:
    const TransformerConfig& config_of_token(std::int64_t tr) const {
        return cfg_[sz(tr / (g_.batch * g_.seq_len))];
    }
    blocks::Rows token_rows() const {
        return {0, tokens_, g_.batch * g_.seq_len, configs_, threads_};
    }
    double* at(double* base, std::int64_t c, std::int64_t p) const {
        return base + c * (positions_ + 1) + p;
    }

    // Sublayer p's standard matrices and biases into weights_ and biases_.
    void draw(std::int64_t p) {
        const std::int64_t n = transformer_weight_count(g_, p);
        standard_weights(g_.seed, WeightDist::normal, std::uint32_t(p), n / d_, d_, weights_.data(),
                         threads_);
        transformer_biases(g_, p, biases_.data());
    }

    // out = s (x Z^T) + t z for every token row, with s the configuration's
    // scale of the projection that column j belongs to (projection(j)).
    template <class ProjectionOf>
    void project(const T* x, std::int64_t n_in, const T* z, const T* bias, std::int64_t n_out,
                 ProjectionOf&& projection_of, T* out) {
        detail::gemm_nt(tokens_, n_out, n_in, x, n_in, z, n_in, out, n_out, threads_);
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t tr = 0; tr < tokens_; ++tr) {
            const TransformerConfig& c = config_of_token(tr);
            const T t = T(c.bias_scale);
            T* o = out + tr * n_out;
            for (std::int64_t j = 0; j < n_out; ++j)
                o[j] = T(c.weight_scale[projection_of(j)]) * o[j] + t * bias[j];
        }
    }

    // g (token rows of n_out) times s of its projection, then times Z (n_out x n_in).
    template <class ProjectionOf>
    void project_back(const T* g, std::int64_t n_out, const T* z, std::int64_t n_in,
                      ProjectionOf&& projection_of, T* out) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t tr = 0; tr < tokens_; ++tr) {
            const TransformerConfig& c = config_of_token(tr);
            for (std::int64_t j = 0; j < n_out; ++j)
                g_scaled_[sz(tr * n_out + j)] =
                    T(c.weight_scale[projection_of(j)]) * g[tr * n_out + j];
        }
        detail::gemm_nn(tokens_, n_in, n_out, g_scaled_.data(), n_out, z, n_in, out, n_in,
                        threads_);
    }

    // x -> out per token (layer or RMS norm) where applies(config), else a copy.
    template <class Applies>
    void normalize_tokens(const T* x, T* out, double* inv, Applies&& applies) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t tr = 0; tr < tokens_; ++tr) {
            const TransformerConfig& c = config_of_token(tr);
            const T* xr = x + tr * d_;
            T* o = out + tr * d_;
            if (!applies(c))
                std::copy(xr, xr + d_, o);
            else if (c.rms_norm)
                inv[tr] = detail::rms_normalize(xr, o, d_, g_.norm_eps);
            else
                inv[tr] = detail::normalize_strided(xr, o, d_, 1, g_.norm_eps);
        }
    }

    template <class Applies>
    void normalize_tokens_backward(const T* xhat, T* g, const double* inv, Applies&& applies) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t tr = 0; tr < tokens_; ++tr) {
            const TransformerConfig& c = config_of_token(tr);
            if (!applies(c)) continue;
            if (c.rms_norm)
                detail::rms_normalize_backward(xhat + tr * d_, g + tr * d_, d_, inv[tr]);
            else
                detail::normalize_backward_strided(xhat + tr * d_, g + tr * d_, d_, 1, inv[tr]);
        }
    }

    // --- attention -----------------------------------------------------------

    // The cache of an attention sublayer: Q K V (tokens x 3d), the heads'
    // attention matrices (rows x H x T x T), their outputs O (tokens x d).
    T* qkv_of(T* branch) const { return branch; }
    T* probs_of(T* branch) const { return branch + tokens_ * 3 * d_; }
    T* heads_out_of(T* branch) const {
        return probs_of(branch) + rows_ * g_.heads * g_.seq_len * g_.seq_len;
    }
    blocks::HeadView head_view() const { return {g_.seq_len, d_ / g_.heads, 3 * d_, d_}; }
    static int qkv_projection(std::int64_t j, std::int64_t d) { return int(j / d); }

    void attention_forward(std::int64_t p, const T* u, T* branch, bool record) {
        T* qkv = qkv_of(branch);
        T* probs = probs_of(branch);
        T* o = heads_out_of(branch);
        const std::int64_t d = d_, heads = g_.heads, T_ = g_.seq_len, dh = d_ / heads;
        project(
            u, d, weights_.data(), biases_.data(), 3 * d,
            [d](std::int64_t j) { return qkv_projection(j, d); }, qkv);
        const blocks::HeadView view = head_view();
#pragma omp parallel num_threads(threads_)
        {
            std::vector<double> scratch(sz(T_ * (2 + dh) + dh));
#pragma omp for schedule(static)
            for (std::int64_t rh = 0; rh < rows_ * heads; ++rh) {
                const std::int64_t r = rh / heads, h = rh % heads;
                const T* q = qkv + r * T_ * 3 * d + h * dh;
                entropy_[sz(rh)] = blocks::attention_forward(
                    view, q, q + d, q + 2 * d, cfg_[sz(r / g_.batch)].causal, probs + rh * T_ * T_,
                    o + r * T_ * d + h * dh, scratch.data());
            }
        }
        project(
            o, d, weights_.data() + 3 * d * d, biases_.data() + 3 * d, d,
            [](std::int64_t) { return int(Projection::attn_out); }, branch_out_.data());
        if (record)
            for (std::int64_t c = 0; c < configs_; ++c) {
                double sum = 0;
                for (std::int64_t i = 0; i < g_.batch * heads; ++i)
                    sum += entropy_[sz(c * g_.batch * heads + i)];
                *at(out_.attention_entropy, c, p) = sum / double(g_.batch * heads * T_);
            }
    }

    void attention_backward(std::int64_t p, const T* u, T* branch) {
        const T* qkv = qkv_of(branch);
        const T* probs = probs_of(branch);
        const T* o = heads_out_of(branch);
        const std::int64_t d = d_, heads = g_.heads, T_ = g_.seq_len, dh = d_ / heads;
        const T* z_qkv = weights_.data();
        const T* z_o = weights_.data() + 3 * d * d;
        project_back(
            gout_.data(), d, z_o, d, [](std::int64_t) { return int(Projection::attn_out); },
            g_heads_.data());
        const blocks::HeadView view = head_view();
        T* gqkv = g_wide_.data();
#pragma omp parallel num_threads(threads_)
        {
            std::vector<double> scratch(sz(T_ * (3 * dh + 2) + 2 * dh));
#pragma omp for schedule(static)
            for (std::int64_t rh = 0; rh < rows_ * heads; ++rh) {
                const std::int64_t r = rh / heads, h = rh % heads;
                const std::int64_t at = r * T_ * 3 * d + h * dh;
                blocks::attention_backward(view, qkv + at, qkv + at + d, qkv + at + 2 * d,
                                           probs + rh * T_ * T_,
                                           g_heads_.data() + r * T_ * d + h * dh, gqkv + at,
                                           gqkv + at + d, gqkv + at + 2 * d, scratch.data());
            }
        }
        weight_gradients(p, {{gout_.data(), d, 0, d, o, d, Projection::attn_out},
                             {gqkv, 3 * d, 0, d, u, d, Projection::query},
                             {gqkv, 3 * d, d, d, u, d, Projection::key},
                             {gqkv, 3 * d, 2 * d, d, u, d, Projection::value}});
        project_back(
            gqkv, 3 * d, z_qkv, d, [d](std::int64_t j) { return qkv_projection(j, d); },
            gu_.data());
    }

    // --- MLP -------------------------------------------------------------------

    // The cache of an MLP sublayer: phi(H) and phi'(H) (tokens x m each), so that
    // the backward pass evaluates no activation again.
    void mlp_forward(const T* u, T* branch) {
        T* hidden = g_wide_.data();  // free during the forward pass
        T* act = branch;
        project(
            u, d_, weights_.data(), biases_.data(), m_,
            [](std::int64_t) { return int(Projection::mlp_in); }, hidden);
        blocks::activation_forward(
            token_rows(), hidden, act, act + tokens_ * m_, m_, [this](std::int64_t c) {
                return std::pair{cfg_[sz(c)].activation, cfg_[sz(c)].activation_param};
            });
        project(
            act, m_, weights_.data() + m_ * d_, biases_.data() + m_, d_,
            [](std::int64_t) { return int(Projection::mlp_out); }, branch_out_.data());
    }

    void mlp_backward(std::int64_t p, const T* u, const T* branch) {
        const T* act = branch;
        const T* dphi = branch + tokens_ * m_;
        T* g_hidden = g_wide_.data();
        project_back(
            gout_.data(), d_, weights_.data() + m_ * d_, m_,
            [](std::int64_t) { return int(Projection::mlp_out); }, g_hidden);
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t i = 0; i < tokens_ * m_; ++i) g_hidden[i] *= dphi[i];
        weight_gradients(p, {{gout_.data(), d_, 0, d_, act, m_, Projection::mlp_out},
                             {g_hidden, m_, 0, m_, u, d_, Projection::mlp_in}});
        project_back(
            g_hidden, m_, weights_.data(), d_, [](std::int64_t) { return int(Projection::mlp_in); },
            gu_.data());
    }

    // --- what is recorded ----------------------------------------------------------

    // One projection's weight gradient dl/dW = sum over tokens of g_t a_t^T:
    // g (the gradient with respect to the projection's output) is columns
    // [offset, offset + n) of rows `ld` wide; a is its input, n_in wide.
    struct WeightGradient {
        const T* g;
        std::int64_t ld, offset, n;
        const T* a;
        std::int64_t n_in;
        Projection projection;
    };

    // |sum_b 10^s_b G_b^T A_b|_F / B for each configuration, with G_b and A_b
    // sample b's token rows: the largest scale factored out, the others'
    // factors 10^(s_b - max) folded into G's rows (a factor below the float
    // range is a sample that contributes nothing at that precision), then one
    // product G^T A (n x n_in) and its norm in double.
    void weight_gradients(std::int64_t p, std::initializer_list<WeightGradient> list) {
        const std::int64_t B = g_.batch, T_ = g_.seq_len, n_tok = B * T_;
        for (std::int64_t c = 0; c < configs_; ++c) {
            const double* s = scale_.data() + c * B;
            const double top = *std::max_element(s, s + B);
            std::vector<T> factor(sz(B));
            for (std::int64_t b = 0; b < B; ++b) factor[sz(b)] = T(std::pow(10.0, s[b] - top));
            for (const WeightGradient& w : list) {
                double* out = out_.log10_weight_grad_norm +
                              (c * (positions_ + 1) + p) * projection_count + int(w.projection);
                if (!std::isfinite(top)) {
                    *out = top;
                    continue;
                }
                // gT (n x B T): the gradient's columns as rows, each sample's tokens times its
                // factor.
#pragma omp parallel for schedule(static) num_threads(threads_)
                for (std::int64_t i = 0; i < n_tok; ++i) {
                    const T* gi = w.g + (c * n_tok + i) * w.ld + w.offset;
                    T* row = wg_rows_.data() + i * w.n;
                    for (std::int64_t j = 0; j < w.n; ++j) row[j] = factor[sz(i / T_)] * gi[j];
                }
                detail::transpose(wg_rows_.data(), n_tok, w.n, wg_t_.data(), threads_);
                detail::gemm_nn(w.n, w.n_in, n_tok, wg_t_.data(), n_tok, w.a + c * n_tok * w.n_in,
                                w.n_in, wg_.data(), w.n_in, threads_);
                const double norm = std::sqrt(detail::dot(wg_.data(), wg_.data(), w.n * w.n_in));
                *out = top + std::log10(norm) - std::log10(double(B));
            }
        }
    }

    // dl/dx_P: the loss's projections (the same for every configuration) or x_P itself.
    void seed() {
        const std::int64_t per_config = g_.batch * g_.seq_len * d_;
        if (g_.loss == Loss::projection) {
            transformer_projections(g_, grad_.data());
            for (std::int64_t c = 1; c < configs_; ++c)
                std::copy(grad_.begin(), grad_.begin() + per_config,
                          grad_.begin() + c * per_config);
        } else {
            grad_ = head_output_;
        }
        std::fill(scale_.begin(), scale_.end(), 0.0);
        renormalize();
        record_gradient(positions_);
    }

    void renormalize() {
        engine::to_unit_rows(grad_.data(), rows_, g_.seq_len * d_, scale_.data(), threads_);
    }

    void record_gradient(std::int64_t p) {
        for (std::int64_t c = 0; c < configs_; ++c) {
            const double* s = scale_.data() + c * g_.batch;
            *at(out_.log10_grad_norm, c, p) = detail::mean(s, g_.batch);
            *at(out_.log10_grad_norm_rms, c, p) = detail::log10_rms(s, g_.batch);
            backward_bad_.note_log_norms(c, p, s, g_.batch);
        }
    }

    // The stream x_p: its second moment, how alike a sample's tokens are, and
    // whether it is finite.
    void record_stream(std::int64_t p, const T* x) {
        const std::int64_t T_ = g_.seq_len, n = T_ * d_;
        std::vector<double> sum_sq(sz(rows_)), cosine(sz(rows_));
        std::vector<int> bad(sz(rows_));
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r) {
            const T* xr = x + r * n;
            const detail::ValueScan scan = detail::scan_values(xr, n);
            bad[sz(r)] = scan.has_nan ? 2 : (scan.has_inf ? 1 : 0);
            std::vector<double> norms(sz(T_));
            for (std::int64_t t = 0; t < T_; ++t)
                norms[sz(t)] = std::sqrt(detail::dot(xr + t * d_, xr + t * d_, d_));
            double sq = 0, cos_sum = 0;
            for (std::int64_t t = 0; t < T_; ++t) {
                sq += norms[sz(t)] * norms[sz(t)];
                for (std::int64_t t2 = t + 1; t2 < T_; ++t2)
                    cos_sum +=
                        detail::dot(xr + t * d_, xr + t2 * d_, d_) / (norms[sz(t)] * norms[sz(t2)]);
            }
            sum_sq[sz(r)] = sq;
            cosine[sz(r)] = T_ > 1 ? cos_sum / double(T_ * (T_ - 1) / 2) : kNaN;
        }
        for (std::int64_t c = 0; c < configs_; ++c) {
            double sq = 0, cos = 0;
            bool has_nan = false, has_inf = false;
            for (std::int64_t b = 0; b < g_.batch; ++b) {
                const std::int64_t r = c * g_.batch + b;
                sq += sum_sq[sz(r)];
                cos += cosine[sz(r)];
                has_nan |= bad[sz(r)] == 2;
                has_inf |= bad[sz(r)] == 1;
            }
            *at(out_.q, c, p) = sq / double(g_.batch * n);
            *at(out_.token_cosine, c, p) = cos / double(g_.batch);
            forward_bad_.note(c, p, has_nan, has_inf);
        }
    }

    const TransformerGroup& g_;
    const std::vector<TransformerConfig>& cfg_;
    const TransformerOutputs& out_;
    std::int64_t configs_, rows_, tokens_, d_, m_, positions_;
    int threads_;
    MemoryPlan plan_;
    // Stream-sized work: x_p, y, a branch's output, dl/dx, dl/dy, dl/d(branch
    // output), dl/du, dl/d(heads' outputs); wider ones: dl/d[QKV] or dl/dH,
    // its scaled copy (the forward pass keeps H in the first).
    std::vector<T> x_, y_, branch_out_, grad_, gy_, gout_, gu_, g_heads_;
    std::vector<T> g_wide_, g_scaled_, head_output_, biases_;
    std::vector<T> wg_rows_, wg_t_,
        wg_;  // a weight gradient's scaled rows, transposed; the gradient
    detail::Buffer<T> weights_, checkpoints_;
    SublayerStore<T> store_;
    std::vector<double> scale_, entropy_;
    engine::FirstNonFinite forward_bad_{true}, backward_bad_{false};
};

}  // namespace

std::int64_t transformer_weight_count(const TransformerGroup& g, std::int64_t p) {
    return g.is_attention(p) ? 4 * g.width * g.width : 2 * g.mlp_width * g.width;
}

std::int64_t transformer_bias_count(const TransformerGroup& g, std::int64_t p) {
    return g.is_attention(p) ? 4 * g.width : g.mlp_width + g.width;
}

template <typename T>
void transformer_weights(const TransformerGroup& g, std::int64_t p, T* weights) {
    standard_weights(g.seed, WeightDist::normal, std::uint32_t(p),
                     transformer_weight_count(g, p) / g.width, g.width, weights);
}

template <typename T>
void transformer_biases(const TransformerGroup& g, std::int64_t p, T* biases) {
    standard_biases(g.seed, std::uint32_t(p), transformer_bias_count(g, p), biases);
}

template <typename T>
void transformer_inputs(const TransformerGroup& g, T* xi) {
    standard_inputs(g.seed, g.batch, g.seq_len * g.width, 1.0, xi);
}

template <typename T>
void transformer_projections(const TransformerGroup& g, T* u) {
    standard_projections(g.seed, g.batch, g.seq_len * g.width, u);
}

MemoryPlan plan_transformer_memory(const TransformerGroup& g, std::int64_t n_configs,
                                   std::int64_t value_bytes) {
    if (g.blocks < 1 || g.width < 1 || g.heads < 1 || g.seq_len < 1 || g.mlp_width < 1 ||
        g.batch < 1 || n_configs < 1 || value_bytes < 1)
        throw std::invalid_argument("the group's sizes, n_configs and value_bytes must be >= 1");
    const SublayerSize s = sublayer_size(g, n_configs);
    const std::int64_t slot = s.values * value_bytes + s.doubles * 8;
    const std::int64_t tokens = n_configs * g.batch * g.seq_len;
    const std::int64_t stream = tokens * g.width * value_bytes;
    const std::int64_t wide = tokens * std::max(3 * g.width, g.mlp_width) * value_bytes;
    const std::int64_t n_tok = g.batch * g.seq_len;
    // Work buffers (8 stream-sized, 2 wide, the head output), one sublayer's
    // weights (and the products' transposed copy of them) and biases, the scratch slot, for the
    // weight gradients one configuration's scaled gradient rows twice and the gradient itself, and
    // the attention's per-thread scratch.
    const std::int64_t dh = g.width / g.heads;
    const std::int64_t fixed = (g.loss == Loss::sum_squares ? 9 : 8) * stream + 2 * wide +
                               (2 * max_weights(g) + 5 * g.width + g.mlp_width) * value_bytes +
                               slot +
                               (2 * n_tok * std::max(3 * g.width, g.mlp_width) +
                                g.width * std::max(g.width, g.mlp_width)) *
                                   value_bytes +
                               g.n_threads * (g.seq_len * (3 * dh + 2) + 2 * dh) * 8;
    return engine::plan_chain_memory({g.sublayers(), slot, 0, stream, stream, fixed},
                                     g.store_budget_bytes, g.checkpoint_every);
}

template <typename T>
RunStatus run_transformer_group(const TransformerGroup& group,
                                const std::vector<TransformerConfig>& configs,
                                const TransformerOutputs& out, const ProgressHook& hook) {
    check_group(group, configs);
    TransformerEngine<T> engine(group, configs, out);
    return engine.run(hook);
}

#define GRADATLAS_INSTANTIATE(T)                                                                 \
    template RunStatus run_transformer_group<T>(const TransformerGroup&,                         \
                                                const std::vector<TransformerConfig>&,           \
                                                const TransformerOutputs&, const ProgressHook&); \
    template void transformer_weights<T>(const TransformerGroup&, std::int64_t, T*);             \
    template void transformer_biases<T>(const TransformerGroup&, std::int64_t, T*);              \
    template void transformer_inputs<T>(const TransformerGroup&, T*);                            \
    template void transformer_projections<T>(const TransformerGroup&, T*);
GRADATLAS_INSTANTIATE(float)
GRADATLAS_INSTANTIATE(double)
#undef GRADATLAS_INSTANTIATE

}  // namespace gradatlas
