#include "gradatlas/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "gradatlas/blas.hpp"
#include "log_space.hpp"
#include "normalization.hpp"

namespace gradatlas {
namespace {

constexpr double kSaturated = 1e-3;  // |phi'| below this counts as saturated
constexpr std::int64_t kTileCols = 128;  // output columns per BLAS call
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

void check_group(const MlpGroup& g, const std::vector<MlpConfig>& configs) {
    auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
    if (g.widths.size() < 2) fail("widths must hold n_0..n_L with L >= 1");
    for (auto w : g.widths)
        if (w < 1) fail("every width must be >= 1, got " + std::to_string(w));
    if (g.batch < 1) fail("batch must be >= 1, got " + std::to_string(g.batch));
    if (g.n_threads < 1) fail("n_threads must be >= 1");
    if (!(g.norm_eps > 0)) fail("norm_eps must be > 0");
    if (configs.empty()) fail("a group needs at least one configuration");
    const std::size_t depth = g.widths.size() - 1;
    for (const auto& c : configs) {
        if (c.weight_scale.size() != depth || c.bias_scale.size() != depth)
            fail("weight_scale and bias_scale need one value per layer");
        if (int(c.activation) < 0 || int(c.activation) >= activation_count)
            fail("unknown activation code");
        if (c.residual)
            for (std::size_t l = 1; l <= depth; ++l)
                if (g.widths[l] != g.widths[l - 1])
                    fail("a residual network needs equal widths at every layer");
        if (c.norm == Norm::batch && g.batch < 2) fail("batch norm needs batch >= 2");
    }
}

// Everything a layer's backward pass needs, for a run of consecutive layers.
template <typename T>
struct SegmentStore {
    std::int64_t first = 1, count = 0;  // layers first .. first + count - 1
    std::int64_t z_slot = 0, h_slot = 0, gram_slot = 0, bias_slot = 0;
    std::vector<T> z, bias, h;
    std::vector<double> gram_a;  // Gram matrix of a_{l-1} per config (B x B)

    void allocate(std::int64_t layers, std::int64_t nmax, std::int64_t rows,
                  std::int64_t configs, std::int64_t batch) {
        count = layers;
        z_slot = nmax * nmax;
        bias_slot = nmax;
        h_slot = rows * nmax;
        gram_slot = configs * batch * batch;
        z.assign(sz(layers * z_slot), T(0));
        bias.assign(sz(layers * bias_slot), T(0));
        h.assign(sz(layers * h_slot), T(0));
        gram_a.assign(sz(layers * gram_slot), 0.0);
    }
    T* z_of(std::int64_t l) { return z.data() + (l - first) * z_slot; }
    T* bias_of(std::int64_t l) { return bias.data() + (l - first) * bias_slot; }
    T* h_of(std::int64_t l) { return h.data() + (l - first) * h_slot; }
    double* gram_of(std::int64_t l) { return gram_a.data() + (l - first) * gram_slot; }
};

template <typename T>
class MlpEngine {
public:
    MlpEngine(const MlpGroup& g, const std::vector<MlpConfig>& cfg, const MlpOutputs& out,
              const ProgressHook& hook)
        : g_(g), cfg_(cfg), out_(out),
          depth_(std::int64_t(g.widths.size()) - 1), batch_(g.batch),
          configs_(std::int64_t(cfg.size())), rows_(batch_ * configs_),
          nmax_(*std::max_element(g.widths.begin(), g.widths.end())),
          plan_(plan_mlp_memory(g, configs_, sizeof(T))),
          poller_(hook, depth_ * (plan_.checkpoint_every < depth_ ? 3 : 2)) {}

    RunStatus run() {
        allocate();
        init_outputs();
        blas::set_num_threads(1);  // threads come from OpenMP (see gemm_tiled)
        if (!forward_pass()) return RunStatus::cancelled;
        if (!backward_pass()) return RunStatus::cancelled;
        return RunStatus::completed;
    }

private:
    std::int64_t width(std::int64_t l) const { return g_.widths[sz(l)]; }
    std::int64_t config_of(std::int64_t row) const { return row / batch_; }

    void allocate() {
        const std::int64_t work = rows_ * nmax_;
        x_.assign(sz(work), T(0));
        x_next_.assign(sz(work), T(0));
        h_tmp_.assign(sz(work), T(0));
        phi_.assign(sz(work), T(0));
        dphi_.assign(sz(work), T(0));
        inv_std_.assign(sz(work), 0.0);
        row_a_.assign(sz(rows_), 0.0);
        scale_.assign(sz(rows_), 0.0);
        gram_.assign(sz(configs_ * batch_ * batch_), 0.0);
        const std::int64_t k = plan_.checkpoint_every;
        segmented_ = k < depth_;
        checkpoints_.assign(sz(((depth_ + k - 1) / k) * work), T(0));
        store_.allocate(k, nmax_, rows_, configs_, batch_);
    }

    void init_outputs() {
        for (std::int64_t c = 0; c < configs_; ++c) {
            out_.first_nonfinite_layer[c] = 0;
            out_.nonfinite_kind[c] = std::int32_t(NonFinite::none);
        }
    }

    bool poll() { return poller_.poll(++done_); }

    // --- forward -----------------------------------------------------------

    void draw_layer(std::int64_t l, T* z, T* bias) {
        standard_weights(g_.seed, g_.dist, std::uint32_t(l), width(l), width(l - 1), z, g_.n_threads);
        standard_biases(g_.seed, std::uint32_t(l), width(l), bias);
    }

    // h = s_l Z_l a + t_l z_l for every configuration, from x (rows x n_in).
    void affine(std::int64_t l, const T* z, const T* bias, const T* x, T* h) {
        const std::int64_t n_in = width(l - 1), n_out = width(l);
        blas::gemm_tiled<T>(true, rows_, n_out, n_in, x, n_in, z, n_in, h, n_out, batch_,
                            kTileCols, g_.n_threads);
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r) {
            const MlpConfig& c = cfg_[sz(config_of(r))];
            const T s = T(c.weight_scale[sz(l - 1)]), t = T(c.bias_scale[sz(l - 1)]);
            T* hr = h + r * n_out;
            for (std::int64_t i = 0; i < n_out; ++i) hr[i] = s * hr[i] + t * bias[i];
        }
    }

    // ht = N(h) per configuration; inv_std_ keeps what the backward pass needs.
    void normalize(const T* h, T* ht, std::int64_t n) {
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r) {
            const MlpConfig& c = cfg_[sz(config_of(r))];
            const T* hr = h + r * n;
            T* out = ht + r * n;
            if (c.norm == Norm::layer) {
                inv_std_[sz(r)] = detail::normalize_strided(hr, out, n, 1, g_.norm_eps);
            } else if (c.norm == Norm::none) {
                std::copy(hr, hr + n, out);
            }
        }
        for (std::int64_t c = 0; c < configs_; ++c) {
            if (cfg_[sz(c)].norm != Norm::batch) continue;
            const T* hc = h + c * batch_ * n;
            T* out = ht + c * batch_ * n;
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
            for (std::int64_t i = 0; i < n; ++i)
                inv_std_[sz(c * n + i)] =
                    detail::normalize_strided(hc + i, out + i, batch_, n, g_.norm_eps);
        }
    }

    void activate(const T* ht, T* phi, T* dphi, std::int64_t n) {
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r) {
            const MlpConfig& c = cfg_[sz(config_of(r))];
            apply_activation(c.activation, c.activation_param, ht + r * n,
                             phi ? phi + r * n : nullptr, dphi + r * n, sz(n));
        }
    }

    // a_l from a_{l-1} (x) and phi(N(h_l)); writes x_next (n_out wide).
    void update_activations(const T* x, const T* phi, T* x_next, std::int64_t n) {
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r) {
            const MlpConfig& c = cfg_[sz(config_of(r))];
            const T* pr = phi + r * n;
            T* xr = x_next + r * n;
            if (c.residual) {
                const T alpha = T(c.alpha);
                const T* xp = x + r * n;
                for (std::int64_t i = 0; i < n; ++i) xr[i] = xp[i] + alpha * pr[i];
            } else {
                std::copy(pr, pr + n, xr);
            }
        }
    }

    void gram_per_config(const T* x, std::int64_t n, double* out) {
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t c = 0; c < configs_; ++c)
            detail::gram(x + c * batch_ * n, batch_, n, out + c * batch_ * batch_);
    }

    void record_forward_stats(std::int64_t l, const T* h, std::int64_t n) {
        const std::int64_t at = l - 1;
        gram_per_config(h, n, gram_.data());
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t c = 0; c < configs_; ++c) {
            const double* G = gram_.data() + c * batch_ * batch_;
            double sum_sq = 0, cos_sum = 0;
            std::int64_t saturated = 0, dead = 0, pairs = 0;
            bool has_nan = false, has_inf = false;
            for (std::int64_t b = 0; b < batch_; ++b) {
                sum_sq += G[b * batch_ + b];
                for (std::int64_t b2 = b + 1; b2 < batch_; ++b2) {
                    cos_sum += G[b * batch_ + b2] / std::sqrt(G[b * batch_ + b] * G[b2 * batch_ + b2]);
                    ++pairs;
                }
                const std::int64_t r = c * batch_ + b;
                const T* hr = h + r * n;
                const T* dr = dphi_.data() + r * n;
                for (std::int64_t i = 0; i < n; ++i) {
                    const double d = std::fabs(double(dr[i]));
                    saturated += d < kSaturated;
                    dead += d == 0.0;
                    has_nan |= std::isnan(hr[i]);
                    has_inf |= std::isinf(hr[i]);
                }
            }
            const double cells = double(batch_ * n);
            out_.q[c * depth_ + at] = sum_sq / cells;
            out_.c[c * depth_ + at] = pairs ? cos_sum / double(pairs) : std::nan("");
            out_.saturated_fraction[c * depth_ + at] = double(saturated) / cells;
            out_.dead_fraction[c * depth_ + at] = double(dead) / cells;
            if ((has_nan || has_inf) && out_.first_nonfinite_layer[c] == 0) {
                out_.first_nonfinite_layer[c] = l;
                out_.nonfinite_kind[c] = std::int32_t(has_nan ? NonFinite::forward_nan
                                                              : NonFinite::forward_overflow);
            }
        }
    }

    // Runs layers [first, last] from the activations in x_. With `store`, keeps
    // what the backward pass needs; with `stats`, records per-layer outputs and
    // checkpoints. Returns false when cancelled.
    bool forward_layers(std::int64_t first, std::int64_t last, bool store, bool stats) {
        std::vector<T> z_local, bias_local;
        for (std::int64_t l = first; l <= last; ++l) {
            const std::int64_t n_in = width(l - 1), n_out = width(l);
            T* z;
            T* bias;
            T* h;
            if (store) {
                z = store_.z_of(l);
                bias = store_.bias_of(l);
                h = store_.h_of(l);
                gram_per_config(x_.data(), n_in, store_.gram_of(l));
            } else {
                z_local.resize(sz(n_out * n_in));
                bias_local.resize(sz(n_out));
                z = z_local.data();
                bias = bias_local.data();
                h = h_tmp_.data();
            }
            draw_layer(l, z, bias);
            affine(l, z, bias, x_.data(), h);
            normalize(h, phi_.data(), n_out);
            // phi_ holds N(h), then phi(N(h)) in place.
            activate(phi_.data(), phi_.data(), dphi_.data(), n_out);
            if (stats) record_forward_stats(l, h, n_out);
            update_activations(x_.data(), phi_.data(), x_next_.data(), n_out);
            std::swap(x_, x_next_);
            if (stats && l % plan_.checkpoint_every == 0 && l < depth_) save_checkpoint(l);
            if (!poll()) return false;
        }
        return true;
    }

    T* checkpoint(std::int64_t l) {
        return checkpoints_.data() + (l / plan_.checkpoint_every) * rows_ * nmax_;
    }
    void save_checkpoint(std::int64_t l) {
        std::copy(x_.begin(), x_.begin() + rows_ * width(l), checkpoint(l));
    }
    void load_checkpoint(std::int64_t l) {
        std::copy(checkpoint(l), checkpoint(l) + rows_ * width(l), x_.begin());
    }

    void load_inputs() {
        // Every configuration sees the same inputs (common random numbers).
        const std::int64_t n0 = width(0);
        standard_inputs(g_.seed, batch_, n0, g_.input_std, x_.data());
        for (std::int64_t c = 1; c < configs_; ++c)
            std::copy(x_.begin(), x_.begin() + batch_ * n0, x_.begin() + c * batch_ * n0);
    }

    bool forward_pass() {
        load_inputs();
        save_checkpoint(0);
        store_.first = 1;
        return forward_layers(1, depth_, !segmented_, true);
    }

    // --- backward ----------------------------------------------------------

    // The gradient entering the network, dl_b/da_L, split into a unit vector
    // (x_next_) and its log10 norm (scale_).
    void seed_gradient() {
        const std::int64_t n = width(depth_);
        std::vector<T> u(sz(batch_ * n));
        standard_projections(g_.seed, batch_, n, u.data());
        for (std::int64_t r = 0; r < rows_; ++r) {
            const MlpConfig& c = cfg_[sz(config_of(r))];
            const T* src = c.loss == Loss::projection ? u.data() + (r % batch_) * n : x_.data() + r * n;
            std::copy(src, src + n, x_next_.data() + r * n);
            scale_[sz(r)] = 0.0;
        }
        renormalize(x_next_.data(), n);
    }

    // Rows of v become unit vectors; their log10 norms are added to scale_.
    void renormalize(T* v, std::int64_t n) {
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r) {
            T* vr = v + r * n;
            const double norm = detail::norm2(vr, n);
            scale_[sz(r)] += std::log10(norm);
            if (norm > 0 && std::isfinite(norm)) {
                const double inv = 1.0 / norm;
                for (std::int64_t i = 0; i < n; ++i) vr[i] = T(double(vr[i]) * inv);
            }
        }
    }

    // Batch norm mixes the samples of a configuration: bring them to one scale first.
    void align_batch_scales(T* g, std::int64_t n) {
        for (std::int64_t c = 0; c < configs_; ++c) {
            if (cfg_[sz(c)].norm != Norm::batch) continue;
            double top = kNegInf;
            for (std::int64_t b = 0; b < batch_; ++b) top = std::max(top, scale_[sz(c * batch_ + b)]);
            if (!std::isfinite(top)) continue;
            for (std::int64_t b = 0; b < batch_; ++b) {
                const std::int64_t r = c * batch_ + b;
                const double f = std::pow(10.0, scale_[sz(r)] - top);
                T* gr = g + r * n;
                for (std::int64_t i = 0; i < n; ++i) gr[i] = T(double(gr[i]) * f);
                scale_[sz(r)] = top;
            }
        }
    }

    void normalize_backward(const T* ht, T* g, std::int64_t n) {
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r)
            if (cfg_[sz(config_of(r))].norm == Norm::layer)
                detail::normalize_backward_strided(ht + r * n, g + r * n, n, 1, inv_std_[sz(r)]);
        for (std::int64_t c = 0; c < configs_; ++c) {
            if (cfg_[sz(c)].norm != Norm::batch) continue;
            const std::int64_t off = c * batch_ * n;
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
            for (std::int64_t i = 0; i < n; ++i)
                detail::normalize_backward_strided(ht + off + i, g + off + i, batch_, n,
                                                   inv_std_[sz(c * n + i)]);
        }
    }

    // Per-layer gradient outputs from g = dl/dh_l (unit rows times 10^scale_).
    void record_backward_stats(std::int64_t l, const T* g, std::int64_t n) {
        const std::int64_t at = l - 1;
        gram_per_config(g, n, gram_.data());
        const double* gram_a = store_.gram_of(l);
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t c = 0; c < configs_; ++c) {
            const double* Gd = gram_.data() + c * batch_ * batch_;
            const double* Ga = gram_a + c * batch_ * batch_;
            const double* s = scale_.data() + c * batch_;
            double* logs = row_a_.data() + c * batch_;
            for (std::int64_t b = 0; b < batch_; ++b)
                logs[b] = s[b] + 0.5 * std::log10(Gd[b * batch_ + b]);
            out_.log10_grad_norm[c * depth_ + at] = detail::mean(logs, batch_);
            out_.log10_grad_norm_rms[c * depth_ + at] = detail::log10_rms(logs, batch_);
            // |sum_b delta_b a_b^T|_F^2 = sum_bb' (delta_b.delta_b')(a_b.a_b'), delta_b = 10^s_b g_b.
            double top = kNegInf;
            for (std::int64_t b = 0; b < batch_; ++b) top = std::max(top, s[b]);
            double sum = 0;
            if (std::isfinite(top))
                for (std::int64_t b = 0; b < batch_; ++b)
                    for (std::int64_t b2 = 0; b2 < batch_; ++b2)
                        sum += std::pow(10.0, s[b] + s[b2] - 2 * top) * Gd[b * batch_ + b2] *
                               Ga[b * batch_ + b2];
            out_.log10_weight_grad_norm[c * depth_ + at] =
                std::isfinite(top) ? top + 0.5 * std::log10(std::max(sum, 0.0)) -
                                         std::log10(double(batch_))
                                   : top;
            bool has_nan = false, has_inf = false;
            for (std::int64_t b = 0; b < batch_; ++b) {
                has_nan |= std::isnan(logs[b]);
                has_inf |= logs[b] == std::numeric_limits<double>::infinity();
            }
            if ((has_nan || has_inf) && out_.first_nonfinite_layer[c] == 0) {
                out_.first_nonfinite_layer[c] = l;
                out_.nonfinite_kind[c] = std::int32_t(has_nan ? NonFinite::backward_nan
                                                              : NonFinite::backward_overflow);
            }
        }
    }

    // One layer back: x_next_ holds dl/da_l (unit rows, log scale in scale_);
    // afterwards it holds dl/da_{l-1}.
    void backward_layer(std::int64_t l) {
        const std::int64_t n_in = width(l - 1), n_out = width(l);
        T* v = x_next_.data();
        T* g = h_tmp_.data();
        normalize(store_.h_of(l), phi_.data(), n_out);
        activate(phi_.data(), nullptr, dphi_.data(), n_out);
        // Before g is formed from v, so that v (the skip path) and g share one scale.
        align_batch_scales(v, n_out);
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r) {
            const MlpConfig& c = cfg_[sz(config_of(r))];
            const T branch = c.residual ? T(c.alpha) : T(1);
            for (std::int64_t i = 0; i < n_out; ++i)
                g[r * n_out + i] = branch * dphi_[sz(r * n_out + i)] * v[r * n_out + i];
        }
        normalize_backward(phi_.data(), g, n_out);
        record_backward_stats(l, g, n_out);
        // dl/da_{l-1} = W_l^T g (+ dl/da_l through the skip connection).
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r) {
            const T s = T(cfg_[sz(config_of(r))].weight_scale[sz(l - 1)]);
            for (std::int64_t i = 0; i < n_out; ++i) g[r * n_out + i] *= s;
        }
        T* prev = x_.data();
        blas::gemm_tiled<T>(false, rows_, n_in, n_out, g, n_out, store_.z_of(l), n_in, prev, n_in,
                            batch_, kTileCols, g_.n_threads);
#pragma omp parallel for schedule(static) num_threads(g_.n_threads)
        for (std::int64_t r = 0; r < rows_; ++r)
            if (cfg_[sz(config_of(r))].residual)
                for (std::int64_t i = 0; i < n_in; ++i) prev[r * n_in + i] += v[r * n_out + i];
        renormalize(prev, n_in);
        std::swap(x_, x_next_);
    }

    bool backward_pass() {
        seed_gradient();
        const std::int64_t k = plan_.checkpoint_every;
        const std::int64_t segments = (depth_ + k - 1) / k;
        for (std::int64_t s = segments - 1; s >= 0; --s) {
            const std::int64_t first = s * k + 1, last = std::min(depth_, (s + 1) * k);
            if (segmented_) {
                // Recompute the segment from its checkpoint; the gradient is in x_next_.
                std::swap(x_next_, grad_hold_);
                x_next_.assign(sz(rows_ * nmax_), T(0));
                load_checkpoint(first - 1);
                store_.first = first;
                if (!forward_layers(first, last, true, false)) return false;
                std::swap(x_next_, grad_hold_);
            }
            for (std::int64_t l = last; l >= first; --l) {
                backward_layer(l);
                if (!poll()) return false;
            }
        }
        return true;
    }

    const MlpGroup& g_;
    const std::vector<MlpConfig>& cfg_;
    const MlpOutputs& out_;
    std::int64_t depth_, batch_, configs_, rows_, nmax_;
    MemoryPlan plan_;
    ProgressPoller poller_;
    std::int64_t done_ = 0;
    bool segmented_ = false;
    std::vector<T> x_, x_next_, h_tmp_, phi_, dphi_, checkpoints_, grad_hold_;
    std::vector<double> inv_std_, row_a_, scale_, gram_;
    SegmentStore<T> store_;
};

}  // namespace

MemoryPlan plan_mlp_memory(const MlpGroup& g, std::int64_t n_configs, std::int64_t value_bytes) {
    const std::int64_t depth = std::int64_t(g.widths.size()) - 1;
    const std::int64_t nmax = *std::max_element(g.widths.begin(), g.widths.end());
    const std::int64_t rows = n_configs * g.batch;
    const std::int64_t row_block = rows * nmax * value_bytes;  // one activation matrix
    const std::int64_t per_layer =
        (nmax * nmax + nmax) * value_bytes + row_block + n_configs * g.batch * g.batch * 8;
    // Work buffers: 6 activation-sized matrices, inv_std, the drawn layer, a QR copy.
    const std::int64_t fixed = 7 * row_block + rows * nmax * 8 + 3 * nmax * nmax * 8;
    std::int64_t k = g.checkpoint_every;
    if (k <= 0) {
        if (depth * per_layer + row_block <= g.store_budget_bytes) {
            k = depth;
        } else {
            // Minimizes k * per_layer + (L / k) * row_block.
            k = std::int64_t(std::ceil(std::sqrt(double(depth) * double(row_block) / double(per_layer))));
        }
    }
    k = std::clamp<std::int64_t>(k, 1, depth);
    const std::int64_t checkpoints = (depth + k - 1) / k;
    return {k, fixed + k * per_layer + checkpoints * row_block};
}

template <typename T>
RunStatus run_mlp_group(const MlpGroup& group, const std::vector<MlpConfig>& configs,
                        const MlpOutputs& out, const ProgressHook& hook) {
    check_group(group, configs);
    MlpEngine<T> engine(group, configs, out, hook);
    return engine.run();
}

template RunStatus run_mlp_group<float>(const MlpGroup&, const std::vector<MlpConfig>&,
                                        const MlpOutputs&, const ProgressHook&);
template RunStatus run_mlp_group<double>(const MlpGroup&, const std::vector<MlpConfig>&,
                                         const MlpOutputs&, const ProgressHook&);

}  // namespace gradatlas
