#include "gradatlas/train.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "blocks/activation.hpp"
#include "blocks/dense.hpp"
#include "blocks/residual.hpp"
#include "engine/unit_rows.hpp"
#include "flush_denormals.hpp"
#include "gradatlas/blas.hpp"
#include "gradatlas/det_gemm.hpp"
#include "gradatlas/rng.hpp"
#include "log_space.hpp"

namespace gradatlas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr std::uint32_t kTeacher = 0;  // id of the teacher in Stream::training; steps use 1..K

std::size_t sz(std::int64_t v) {
    return static_cast<std::size_t>(v);
}

void check(const TrainSetup& s) {
    auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
    if (s.widths.size() < 2) fail("widths must hold n_0..n_L with L >= 1");
    for (auto w : s.widths)
        if (w < 1) fail("every width must be >= 1");
    const auto depth = s.widths.size() - 1;
    if (s.weight_scale.size() != depth || s.bias_scale.size() != depth)
        fail("weight_scale and bias_scale need one value per layer");
    if (s.batch < 1 || s.steps < 1 || s.n_threads < 1)
        fail("batch, steps and n_threads must be >= 1");
    if (s.residual)
        for (auto w : s.widths)
            if (w != s.widths[0]) fail("a residual network needs equal widths");
    if (int(s.optimizer) < 0 || int(s.optimizer) > int(Optimizer::adam)) fail("unknown optimizer");
    if (int(s.clip) < 0 || int(s.clip) > int(ClipMode::value)) fail("unknown clip mode");
    if (s.clip != ClipMode::none && !(s.clip_threshold > 0))
        fail("the clip threshold must be > 0, got " + std::to_string(s.clip_threshold));
    if (int(s.activation) < 0 || int(s.activation) >= activation_count) fail("unknown activation");
    if (!s.lr_scale.empty() && s.lr_scale.size() != depth)
        fail("lr_scale needs one value per layer (or none)");
}

// log10 sqrt(sum_k 10^(2 x_k)), stable for any range of x.
double log10_hypot(const std::vector<double>& x) {
    double top = kNegInf;
    for (double v : x) top = std::max(top, v);
    if (!std::isfinite(top)) return top;
    double sum = 0;
    for (double v : x) sum += std::pow(10.0, 2.0 * (v - top));
    return top + 0.5 * std::log10(sum);
}

template <typename T>
class Trainer {
public:
    Trainer(const TrainSetup& s, const TrainOutputs& out, const ProgressHook& hook)
        : s_(s),
          out_(out),
          depth_(std::int64_t(s.widths.size()) - 1),
          batch_(s.batch),
          nmax_(*std::max_element(s.widths.begin(), s.widths.end())),
          poller_(hook, s.steps) {}

    RunStatus run() {
        const detail::FlushDenormals flush(s_.n_threads);
        blas::set_num_threads(1);  // BLAS only draws orthogonal inits; products are det_gemm's
        init();
        *out_.first_nonfinite_step = -1;
        for (std::int64_t k = 0; k < s_.steps; ++k) {
            if (!step(k)) {  // non-finite loss: the run ends here, the rest stays NaN
                *out_.first_nonfinite_step = k + 1;
                break;
            }
            if (!poller_.poll(k + 1)) return RunStatus::cancelled;
        }
        return RunStatus::completed;
    }

private:
    std::int64_t n(std::int64_t l) const { return s_.widths[sz(l)]; }
    std::int64_t weights_of(std::int64_t l) const { return n(l) * n(l - 1); }

    void init() {
        const std::int64_t L = depth_;
        for (auto* per_layer : {&w_, &b_, &gw_, &gb_, &m1w_, &m1b_, &m2w_, &m2b_, &a_, &d_, &g_})
            per_layer->resize(sz(L + 1));
        scale_.resize(sz(L + 1));
        const bool first = s_.optimizer != Optimizer::sgd, second = s_.optimizer == Optimizer::adam;
        for (std::int64_t l = 1; l <= L; ++l) {
            w_[sz(l)].resize(sz(weights_of(l)));
            standard_weights(s_.seed, s_.dist, std::uint32_t(l), n(l), n(l - 1), w_[sz(l)].data(),
                             s_.n_threads);
            const T sw = T(s_.weight_scale[sz(l - 1)]), sb = T(s_.bias_scale[sz(l - 1)]);
            for (auto& v : w_[sz(l)]) v *= sw;
            b_[sz(l)].resize(sz(n(l)));
            standard_biases(s_.seed, std::uint32_t(l), n(l), b_[sz(l)].data());
            for (auto& v : b_[sz(l)]) v *= sb;
            gw_[sz(l)].assign(sz(weights_of(l)), T(0));
            gb_[sz(l)].assign(sz(n(l)), T(0));
            if (first) {
                m1w_[sz(l)].assign(sz(weights_of(l)), T(0));
                m1b_[sz(l)].assign(sz(n(l)), T(0));
            }
            if (second) {
                m2w_[sz(l)].assign(sz(weights_of(l)), T(0));
                m2b_[sz(l)].assign(sz(n(l)), T(0));
            }
            d_[sz(l)].assign(sz(batch_ * n(l)), T(0));
            g_[sz(l)].assign(sz(batch_ * n(l)), T(0));
            scale_[sz(l)].assign(sz(batch_), 0.0);
        }
        for (std::int64_t l = 0; l <= L; ++l) a_[sz(l)].assign(sz(batch_ * n(l)), T(0));
        teacher_.resize(sz(n(L) * n(0)));
        training_teacher(s_.seed, n(L), n(0), teacher_.data());
        const T inv = T(1.0 / std::sqrt(double(n(0))));
        for (auto& v : teacher_) v *= inv;
        y_.assign(sz(batch_ * n(L)), T(0));
        phi_.assign(sz(batch_ * nmax_), T(0));
        v_.assign(sz(batch_ * nmax_), T(0));
        v_prev_.assign(sz(batch_ * nmax_), T(0));
        s_row_.assign(sz(batch_), 0.0);
        gram_g_.assign(sz(batch_ * batch_), 0.0);
        gram_a_.assign(sz(batch_ * batch_), 0.0);
        rows_.assign(sz(batch_ * nmax_), T(0));
        rows_t_.assign(sz(batch_ * nmax_), T(0));
    }

    // --- one step --------------------------------------------------------------

    bool step(std::int64_t k) {
        const std::int64_t L = depth_;
        step_ = k;
        if (out_.activation_size) probe(k);
        T* x = a_[0].data();
        training_inputs(s_.seed, k + 1, batch_, n(0), x);
        const T in_std = T(s_.input_std);
        for (std::int64_t i = 0; i < batch_ * n(0); ++i) x[i] *= in_std;
        detail::gemm_nt(batch_, n(L), n(0), x, n(0), teacher_.data(), n(0), y_.data(), n(L),
                        s_.n_threads);
        forward();
        double loss = 0;
        const T* out = a_[sz(L)].data();
        for (std::int64_t i = 0; i < batch_ * n(L); ++i) {
            const double e = double(out[i]) - double(y_[sz(i)]);
            loss += 0.5 * e * e;
        }
        loss /= double(batch_);
        out_.loss[k] = loss;
        if (!std::isfinite(loss)) return false;
        backward();
        const double lc = clip_coefficient(k);
        bool clipped = lc < 0;
        for (std::int64_t l = 1; l <= L; ++l) clipped |= materialize(l, lc);
        out_.clipped[k] = clipped ? 1 : 0;
        update(k);
        return true;
    }

    // The network's own weights (W, b), one configuration: the feed-forward
    // blocks with unit scales (1 * x is exact, so h = W a + b as written).
    blocks::Rows rows() const { return {0, batch_, batch_, 1, s_.n_threads}; }
    static std::pair<double, double> unit_scales(std::int64_t) { return {1.0, 1.0}; }
    std::pair<Activation, double> activation(std::int64_t) const {
        return {s_.activation, s_.activation_param};
    }
    bool skip(std::int64_t) const { return s_.residual; }
    double alpha(std::int64_t) const { return s_.alpha; }
    double branch(std::int64_t) const { return s_.residual ? s_.alpha : 1.0; }

    void forward() {
        for (std::int64_t l = 1; l <= depth_; ++l) {
            const T* prev = a_[sz(l - 1)].data();
            T* h = rows_.data();
            blocks::dense_forward(rows(), prev, n(l - 1), w_[sz(l)].data(), b_[sz(l)].data(), n(l),
                                  unit_scales, h);
            blocks::activation_forward(rows(), h, phi_.data(), d_[sz(l)].data(), n(l),
                                       [this](std::int64_t c) { return activation(c); });
            blocks::residual_forward(
                rows(), prev, phi_.data(), a_[sz(l)].data(), n(l),
                [this](std::int64_t c) { return skip(c); },
                [this](std::int64_t c) { return alpha(c); });
        }
    }

    // The coordinate check: the network on the probe batch (step 1's inputs) with the
    // current weights; row k of the outputs. The training step's forward pass comes after
    // and recomputes everything it needs.
    void probe(std::int64_t k) {
        T* x = a_[0].data();
        training_inputs(s_.seed, 1, batch_, n(0), x);
        for (std::int64_t i = 0; i < batch_ * n(0); ++i) x[i] *= T(s_.input_std);
        if (k == 0) probe_init_.resize(sz(depth_ + 1));
        for (std::int64_t l = 1; l <= depth_; ++l) {
            const std::int64_t m = batch_ * n(l);
            T* h = rows_.data();
            blocks::dense_forward(rows(), a_[sz(l - 1)].data(), n(l - 1), w_[sz(l)].data(),
                                  b_[sz(l)].data(), n(l), unit_scales, h);
            double h_abs = 0;
            for (std::int64_t i = 0; i < m; ++i) h_abs += std::abs(double(h[i]));
            blocks::activation_forward(rows(), h, phi_.data(), d_[sz(l)].data(), n(l),
                                       [this](std::int64_t c) { return activation(c); });
            blocks::residual_forward(
                rows(), a_[sz(l - 1)].data(), phi_.data(), a_[sz(l)].data(), n(l),
                [this](std::int64_t c) { return skip(c); },
                [this](std::int64_t c) { return alpha(c); });
            const T* a = a_[sz(l)].data();
            if (k == 0) probe_init_[sz(l)].assign(a, a + m);
            double a_abs = 0, moved = 0;
            for (std::int64_t i = 0; i < m; ++i) {
                a_abs += std::abs(double(a[i]));
                moved += std::abs(double(a[i]) - double(probe_init_[sz(l)][sz(i)]));
            }
            const std::int64_t at = k * depth_ + (l - 1);
            out_.preactivation_size[at] = h_abs / double(m);
            out_.activation_size[at] = a_abs / double(m);
            out_.update_size[at] = moved / double(m);
        }
    }

    // Rows of v (B x m) to unit norm; their log10 norms are added to s_row_.
    void renormalize(T* v, std::int64_t m) {
        engine::to_unit_rows<engine::Rescale::by_division>(v, batch_, m, s_row_.data(),
                                                           s_.n_threads);
    }

    // log10 |(1/B) sum_b 10^{t_b} u_b w_b^T|_F from the Gram matrices of u and w
    // (w = null: the vector (1/B) sum_b 10^{t_b} u_b).
    double log10_sum_norm(const std::vector<double>& t, const double* gu, const double* gw) const {
        double top = kNegInf;
        for (double v : t) top = std::max(top, v);
        if (!std::isfinite(top)) return top;
        double sum = 0;
        for (std::int64_t i = 0; i < batch_; ++i)
            for (std::int64_t j = 0; j < batch_; ++j) {
                const double f = std::pow(10.0, t[sz(i)] + t[sz(j)] - 2 * top);
                sum += f * gu[i * batch_ + j] * (gw ? gw[i * batch_ + j] : 1.0);
            }
        return top + 0.5 * std::log10(std::max(sum, 0.0)) - std::log10(double(batch_));
    }

    void backward() {
        const std::int64_t L = depth_;
        T* v = v_.data();
        for (std::int64_t i = 0; i < batch_ * n(L); ++i) v[i] = a_[sz(L)][sz(i)] - y_[sz(i)];
        std::fill(s_row_.begin(), s_row_.end(), 0.0);
        renormalize(v, n(L));
        layer_norms_.assign(sz(2 * L), kNegInf);
        for (std::int64_t l = L; l >= 1; --l) {
            T* g = g_[sz(l)].data();
            blocks::activation_backward(rows(), d_[sz(l)].data(), v, g, n(l),
                                        [this](std::int64_t c) { return branch(c); });
            scale_[sz(l)] = s_row_;
            detail::gram(g, batch_, n(l), gram_g_.data());
            detail::gram(a_[sz(l - 1)].data(), batch_, n(l - 1), gram_a_.data());
            const double w_norm = log10_sum_norm(s_row_, gram_g_.data(), gram_a_.data());
            layer_norms_[sz(2 * (l - 1))] = w_norm;
            layer_norms_[sz(2 * (l - 1) + 1)] = log10_sum_norm(s_row_, gram_g_.data(), nullptr);
            out_.log10_grad_norm[step_ * depth_ + (l - 1)] = w_norm;
            blocks::dense_backward(
                rows(), g, n(l), w_[sz(l)].data(), n(l - 1), [](std::int64_t) { return 1.0; },
                v_prev_.data());
            blocks::residual_backward(rows(), v, v_prev_.data(), n(l - 1),
                                      [this](std::int64_t c) { return skip(c); });
            std::swap(v_, v_prev_);
            v = v_.data();
            renormalize(v, n(l - 1));
        }
    }

    // log10 of the factor applied to every gradient: 0, or negative when the
    // global norm is clipped (torch.nn.utils.clip_grad_norm_:
    // coef = max_norm / (total_norm + 1e-6), applied when below 1).
    double clip_coefficient(std::int64_t k) {
        const double total = log10_hypot(layer_norms_);
        out_.log10_global_grad_norm[k] = total;
        if (s_.clip != ClipMode::norm || !(total > kNegInf)) return 0.0;
        const double lc = total > 300
                              ? std::log10(s_.clip_threshold) - total
                              : std::log10(s_.clip_threshold / (std::pow(10.0, total) + 1e-6));
        return lc < 0 ? lc : 0.0;
    }

    // gw_[l], gb_[l] = the (clipped) gradients in T. Rows are brought to their
    // largest scale before the product, the rest of the scale applied after
    // (in double), so nothing overflows that the float gradient itself would
    // not. Returns whether value clipping changed an element.
    bool materialize(std::int64_t l, double lc) {
        const std::vector<double>& s = scale_[sz(l)];
        double top = kNegInf;
        for (double v : s) top = std::max(top, v);
        T* gw = gw_[sz(l)].data();
        T* gb = gb_[sz(l)].data();
        if (top == kNegInf) {  // every per-sample gradient is exactly zero (+inf/NaN go through)
            std::fill(gw, gw + weights_of(l), T(0));
            std::fill(gb, gb + n(l), T(0));
            return false;
        }
        T* rows = rows_.data();
        const T* g = g_[sz(l)].data();
        for (std::int64_t r = 0; r < batch_; ++r) {
            const T f = T(std::pow(10.0, s[sz(r)] - top));
            for (std::int64_t i = 0; i < n(l); ++i) rows[r * n(l) + i] = f * g[r * n(l) + i];
        }
        // dW' = rows^T a_{l-1}: rows transposed (n_l x B), then the deterministic product.
        detail::transpose(rows, batch_, n(l), rows_t_.data(), s_.n_threads);
        detail::gemm_nn(n(l), n(l - 1), batch_, rows_t_.data(), batch_, a_[sz(l - 1)].data(),
                        n(l - 1), gw, n(l - 1), s_.n_threads);
        for (std::int64_t i = 0; i < n(l); ++i) {
            double sum = 0;
            for (std::int64_t r = 0; r < batch_; ++r) sum += double(rows[r * n(l) + i]);
            gb[i] = T(sum);
        }
        const double e = top + lc - std::log10(double(batch_));
        const double factor = std::pow(10.0, std::min(e, 400.0));  // inf past the double range
        const bool value = s_.clip == ClipMode::value;
        const double v = s_.clip_threshold;
        bool changed = false;
        auto finish = [&](T* p, std::int64_t count) {
            for (std::int64_t i = 0; i < count; ++i) {
                double x = double(p[i]);
                x = x == 0.0 ? 0.0 : x * factor;
                if (value && std::fabs(x) > v) {
                    x = std::copysign(v, x);
                    changed = true;
                }
                p[i] = T(x);
            }
        };
        finish(gw, weights_of(l));
        finish(gb, n(l));
        return changed;
    }

    void update(std::int64_t k) {
        const double bc1 = 1.0 - std::pow(s_.beta1, double(k + 1));
        const double bc2 = 1.0 - std::pow(s_.beta2, double(k + 1));
        for (std::int64_t l = 1; l <= depth_; ++l) {
            // times 1 exactly without a parametrization: the bits of a plain run do not change
            const double lr = s_.lr * (s_.lr_scale.empty() ? 1.0 : s_.lr_scale[sz(l - 1)]);
            double delta_sq = 0, w_sq = 0;
            auto apply = [&](std::vector<T>& p, const std::vector<T>& grad, std::vector<T>& m1,
                             std::vector<T>& m2, bool count) {
                for (std::size_t i = 0; i < p.size(); ++i) {
                    const T gi = grad[i];
                    T delta;
                    switch (s_.optimizer) {
                        case Optimizer::sgd:
                            delta = T(-lr) * gi;
                            break;
                        case Optimizer::momentum:
                            m1[i] = k == 0 ? gi : T(s_.momentum) * m1[i] + gi;
                            delta = T(-lr) * m1[i];
                            break;
                        case Optimizer::adam:
                        default:
                            m1[i] = T(s_.beta1) * m1[i] + T(1 - s_.beta1) * gi;
                            m2[i] = T(s_.beta2) * m2[i] + T(1 - s_.beta2) * gi * gi;
                            delta = T(-lr / bc1) * m1[i] /
                                    (std::sqrt(m2[i]) / T(std::sqrt(bc2)) + T(s_.eps));
                            break;
                    }
                    if (count) {
                        delta_sq += double(delta) * double(delta);
                        w_sq += double(p[i]) * double(p[i]);
                    }
                    p[i] += delta;
                }
            };
            apply(w_[sz(l)], gw_[sz(l)], m1w_[sz(l)], m2w_[sz(l)], true);
            apply(b_[sz(l)], gb_[sz(l)], m1b_[sz(l)], m2b_[sz(l)], false);
            out_.update_ratio[k * depth_ + (l - 1)] = std::sqrt(delta_sq) / std::sqrt(w_sq);
        }
    }

    const TrainSetup& s_;
    const TrainOutputs& out_;
    std::int64_t depth_, batch_, nmax_;
    ProgressPoller poller_;
    std::int64_t step_ = 0;
    std::vector<std::vector<T>> w_, b_, gw_, gb_, m1w_, m1b_, m2w_, m2b_, a_, d_, g_;
    std::vector<std::vector<double>> scale_;  // per layer, the log10 scale of each row of g_
    std::vector<T> teacher_, y_, phi_, v_, v_prev_, rows_, rows_t_;
    std::vector<double> s_row_, gram_g_, gram_a_, layer_norms_;
    std::vector<std::vector<T>> probe_init_;  // a_l on the probe batch at initialization
};

}  // namespace

template <typename T>
RunStatus train_mlp(const TrainSetup& setup, const TrainOutputs& out, const ProgressHook& hook) {
    check(setup);
    const std::int64_t K = setup.steps, L = std::int64_t(setup.widths.size()) - 1;
    std::fill(out.loss, out.loss + K, kNaN);
    std::fill(out.log10_global_grad_norm, out.log10_global_grad_norm + K, kNaN);
    std::fill(out.clipped, out.clipped + K, std::uint8_t(0));
    std::fill(out.log10_grad_norm, out.log10_grad_norm + K * L, kNaN);
    std::fill(out.update_ratio, out.update_ratio + K * L, kNaN);
    for (double* a : {out.activation_size, out.preactivation_size, out.update_size})
        if (a) std::fill(a, a + K * L, kNaN);
    Trainer<T> trainer(setup, out, hook);
    return trainer.run();
}

template <typename T>
void training_teacher(std::uint64_t seed, std::int64_t n_out, std::int64_t n_in, T* out) {
    fill_normal(seed, Stream::training, kTeacher, 0, sz(n_out * n_in), out);
}

template <typename T>
void training_inputs(std::uint64_t seed, std::int64_t step, std::int64_t batch, std::int64_t n_in,
                     T* out) {
    fill_normal(seed, Stream::training, std::uint32_t(step), 0, sz(batch * n_in), out);
}

#define GRADATLAS_INSTANTIATE(T)                                                                  \
    template RunStatus train_mlp<T>(const TrainSetup&, const TrainOutputs&, const ProgressHook&); \
    template void training_teacher<T>(std::uint64_t, std::int64_t, std::int64_t, T*);             \
    template void training_inputs<T>(std::uint64_t, std::int64_t, std::int64_t, std::int64_t, T*);
GRADATLAS_INSTANTIATE(float)
GRADATLAS_INSTANTIATE(double)
#undef GRADATLAS_INSTANTIATE

}  // namespace gradatlas
