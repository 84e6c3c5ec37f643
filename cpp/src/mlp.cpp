#include "gradatlas/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "blocks/activation.hpp"
#include "blocks/concat.hpp"
#include "blocks/dense.hpp"
#include "blocks/linear.hpp"
#include "blocks/norm.hpp"
#include "blocks/residual.hpp"
#include "buffer.hpp"
#include "engine/chain_driver.hpp"
#include "engine/feedforward_graph.hpp"
#include "engine/first_nonfinite.hpp"
#include "engine/memory_plan.hpp"
#include "engine/unit_rows.hpp"
#include "gradatlas/det_gemm.hpp"
#include "log_space.hpp"
#include "row_scan.hpp"
#include "thread_count.hpp"

namespace gradatlas {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::int64_t kMaxBatchOnStack = 256;

std::size_t sz(std::int64_t v) {
    return static_cast<std::size_t>(v);
}

std::vector<std::int64_t> heads_of(const MlpGroup& g) {
    if (g.heads.empty()) return {std::int64_t(g.widths.size()) - 1};
    return g.heads;
}

void check_group(const MlpGroup& g, const std::vector<MlpConfig>& configs) {
    auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
    if (g.widths.size() < 2) fail("widths must hold n_0..n_L with L >= 1");
    for (auto w : g.widths)
        if (w < 1) fail("every width must be >= 1, got " + std::to_string(w));
    if (g.batch < 1) fail("batch must be >= 1, got " + std::to_string(g.batch));
    if (g.n_threads < 1) fail("n_threads must be >= 1");
    if (!(g.norm_eps > 0)) fail("norm_eps must be > 0");
    if (configs.empty()) fail("a group needs at least one configuration");
    const auto depth = std::int64_t(g.widths.size()) - 1;
    std::int64_t previous = 0;
    for (auto d : heads_of(g)) {
        if (d <= previous || d > depth)
            fail("heads must be increasing depths in 1.." + std::to_string(depth));
        previous = d;
    }
    if (g.skip_span < 1 || depth % g.skip_span != 0)
        fail("skip_span must be >= 1 and divide the depth");
    if (g.c2f_bottlenecks < 0) fail("c2f_bottlenecks must be >= 0");
    if (g.c2f_bottlenecks > 0 && g.conv.channels <= 0)
        fail("C2f blocks (c2f_bottlenecks > 0) need convolutional layers");
    const std::vector<engine::LayerEdges> edges = engine::feedforward_edges(g);
    for (const auto& c : configs) {
        if (c.weight_scale.size() != sz(depth) || c.bias_scale.size() != sz(depth))
            fail("weight_scale and bias_scale need one value per layer");
        if (int(c.activation) < 0 || int(c.activation) >= activation_count)
            fail("unknown activation code");
        if (c.residual)
            for (std::int64_t l = 1; l <= depth; ++l) {
                const std::int64_t from = edges[sz(l)].skip_from;
                if (from >= 0 && g.widths[sz(l)] != g.widths[sz(from)])
                    fail("a residual network needs equal widths where each skip starts and ends");
            }
        if (c.norm == Norm::batch && g.batch < 2) fail("batch norm needs batch >= 2");
    }
    if (g.skip_span > 1)
        for (auto d : heads_of(g))
            if (d % g.skip_span != 0) fail("with skip_span > 1 every head must close a block");
    const Conv2dGeometry& conv = g.conv;
    if (conv.channels > 0) {
        if (conv.height < 1 || conv.width < 1) fail("image height and width must be >= 1");
        if (!conv.kernels.empty() && conv.kernels.size() != sz(depth))
            fail("kernels needs one kernel side per layer");
        for (auto k : conv.kernels.empty() ? std::vector<std::int64_t>{conv.kernel} : conv.kernels)
            if (k < 1 || k % 2 == 0) fail("kernel must be odd and >= 1");
        for (auto w : g.widths)
            if (w % (conv.height * conv.width) != 0)
                fail("a convolutional network's widths must be height * width * channels");
    }
}

// Elements of the largest Z_l: n_max^2 for dense layers, or C_out x K_l^2 C_in for convolutions.
std::int64_t kernel_elements(const MlpGroup& g) {
    if (g.conv.channels <= 0) {
        const std::int64_t nmax = *std::max_element(g.widths.begin(), g.widths.end());
        return nmax * nmax;
    }
    std::int64_t largest = 0;
    const std::vector<engine::LayerEdges> edges = engine::feedforward_edges(g);
    for (std::size_t l = 1; l < g.widths.size(); ++l) {
        const std::int64_t k = g.conv.kernels.empty() ? g.conv.kernel : g.conv.kernels[l - 1];
        largest = std::max(largest, edges[l].out_channels * k * k * edges[l].in_channels);
    }
    return largest;
}

// The longest row any layer reads or writes: a width, a concat, or outputs with side channels.
std::int64_t widest_row(const MlpGroup& g) {
    std::int64_t widest = *std::max_element(g.widths.begin(), g.widths.end());
    const std::int64_t pixels = engine::pixels_of(g);
    for (const engine::LayerEdges& e : engine::feedforward_edges(g))
        widest = std::max({widest, e.in_channels * pixels, e.out_channels * pixels});
    return widest;
}

// Everything a layer's backward pass needs, for a run of consecutive layers:
// phi'(N(h_l)), the Gram matrices and row scales of a_{l-1}, h_l when some
// configuration normalizes (the backward pass normalizes it again), and Z_l
// when the plan keeps the weights.
template <typename T>
struct SegmentStore {
    std::int64_t first = 1;
    std::int64_t z_slot = 0, h_slot = 0, gram_slot = 0;
    detail::Buffer<T> z, h, dphi;
    detail::Buffer<T> a;              // a_{l-1} itself, for maps whose weight gradient needs it
    detail::Buffer<double> gram_a;    // Gram matrix of a_{l-1} per config (B x B)
    detail::Buffer<double> fscale_a;  // log10 scale of each row of a_{l-1} (see MlpEngine::fscale_)

    void allocate(std::int64_t layers, std::int64_t nmax, std::int64_t kernel, std::int64_t rows,
                  std::int64_t configs, std::int64_t batch, bool keep_weights, bool keep_h,
                  bool keep_inputs, int n_threads) {
        z_slot = kernel;
        h_slot = rows * nmax;
        gram_slot = configs * batch * batch;
        z.resize(keep_weights ? sz(layers * z_slot) : 0, n_threads);
        h.resize(keep_h ? sz(layers * h_slot) : 0, n_threads);
        dphi.resize(sz(layers * h_slot), n_threads);
        a.resize(keep_inputs ? sz(layers * h_slot) : 0, n_threads);
        gram_a.resize(sz(layers * gram_slot), n_threads);
        fscale_a.resize(sz(layers * rows), n_threads);
        rows_ = rows;
    }
    T* z_of(std::int64_t l) { return z.data() + (l - first) * z_slot; }
    T* h_of(std::int64_t l) { return h.data() + (l - first) * h_slot; }
    T* dphi_of(std::int64_t l) { return dphi.data() + (l - first) * h_slot; }
    T* a_of(std::int64_t l) { return a.data() + (l - first) * h_slot; }
    double* gram_of(std::int64_t l) { return gram_a.data() + (l - first) * gram_slot; }
    double* fscale_of(std::int64_t l) { return fscale_a.data() + (l - first) * rows_; }
    std::int64_t rows_ = 0;
};

// Rows of the forward pass are (config, sample): r = c * B + b. Rows of the
// backward pass are (head, config, sample): r = (k * C + c) * B + b, so the
// heads active at a layer (those at least that deep) are a suffix of rows.
// The feed-forward chain, over a linear map (blocks/linear.hpp): dense or convolutional.
template <typename T, class Map>
class MlpEngine {
public:
    MlpEngine(const MlpGroup& g, const std::vector<MlpConfig>& cfg, const MlpOutputs& out)
        : g_(g),
          cfg_(cfg),
          out_(out),
          heads_(heads_of(g)),
          depth_(std::int64_t(g.widths.size()) - 1),
          batch_(g.batch),
          configs_(std::int64_t(cfg.size())),
          n_heads_(std::int64_t(heads_.size())),
          rows_(batch_ * configs_),
          grad_rows_(rows_ * n_heads_),
          nmax_(widest_row(g)),
          threads_(detail::threads_for(grad_rows_ * nmax_ * nmax_, g.n_threads)),
          with_norm_(std::any_of(cfg.begin(), cfg.end(),
                                 [](const MlpConfig& c) { return c.norm != Norm::none; })),
          plan_(plan_mlp_memory(g, configs_, sizeof(T), with_norm_)),
          map_{g} {}

    RunStatus run(const ProgressHook& hook) {
        return engine::run_chain(*this, depth_, plan_.checkpoint_every, hook);
    }

    // --- the chain (see engine/chain_driver.hpp) ------------------------------

    int threads() const { return threads_; }

    void allocate() {
        const std::int64_t work = rows_ * nmax_, grad_work = grad_rows_ * nmax_;
        x_.assign(sz(work), T(0));
        x_next_.assign(sz(work), T(0));
        h_tmp_.assign(sz(work), T(0));
        phi_.assign(sz(work), T(0));
        dphi_.assign(sz(work), T(0));
        inv_std_rows_.assign(sz(rows_), 0.0);
        inv_std_units_.assign(sz(configs_ * nmax_), 0.0);
        grad_.assign(sz(grad_work), T(0));
        grad_prev_.assign(sz(grad_work), T(0));
        g_work_.assign(sz(grad_work), T(0));
        scale_.assign(sz(grad_rows_), 0.0);
        fscale_.assign(sz(rows_), 0.0);
        fscale_checkpoints_.assign(
            sz(((depth_ + plan_.checkpoint_every - 1) / plan_.checkpoint_every) * rows_), 0.0);
        head_fscale_.assign(sz(n_heads_ * rows_), 0.0);
        homogeneous_.assign(sz(configs_), false);
        for (std::int64_t c = 0; c < configs_; ++c) {
            const MlpConfig& cf = cfg_[sz(c)];
            const bool scale_free = cf.activation == Activation::linear ||
                                    cf.activation == Activation::relu ||
                                    cf.activation == Activation::leaky_relu;
            const bool no_bias = std::all_of(cf.bias_scale.begin(), cf.bias_scale.end(),
                                             [](double t) { return t == 0.0; });
            homogeneous_[sz(c)] = scale_free && no_bias && cf.norm == Norm::none;
        }
        logs_.assign(sz(grad_rows_), 0.0);
        gram_.assign(sz(grad_rows_ * batch_), 0.0);
        if (g_.loss == Loss::sum_squares) head_outputs_.assign(sz(n_heads_ * work), T(0));
        const std::int64_t k = plan_.checkpoint_every;
        checkpoints_.resize(sz(((depth_ + k - 1) / k) * work), threads_);
        store_.allocate(k, nmax_, kernel_elements(g_), rows_, configs_, batch_, plan_.keep_weights,
                        with_norm_, Map::keeps_inputs, threads_);
        if (Map::keeps_inputs) {
            weight_gram_.assign(sz(n_heads_ * configs_ * batch_ * batch_), 0.0);
            ones_.assign(sz(batch_ * batch_), 1.0);
        }
        z_scratch_.resize(sz(kernel_elements(g_)));
        map_.allocate(grad_rows_, threads_);
        bias_.assign(sz(nmax_), T(0));
        if (span_ > 1) {
            block_input_.assign(sz(work), T(0));
            skip_grad_.assign(sz(grad_work), T(0));
            skip_scale_.assign(sz(grad_rows_), 0.0);
        }
        if (g_.c2f_bottlenecks > 0) {
            concat_.assign(sz(work), T(0));
            branch_.assign(sz(work), T(0));
            concat_grad_.assign(sz(grad_work), T(0));
            concat_scale_.assign(sz(grad_rows_), 0.0);
            slot_scale_.assign(sz((g_.c2f_bottlenecks + 2) * rows_), 0.0);
            block_input_scale_.assign(sz(rows_), 0.0);
            wide_.assign(sz(grad_work), T(0));
        }
        forward_bad_.reset(configs_);
        backward_bad_.reset(configs_ * n_heads_);
        const std::int64_t per_layer = configs_ * n_heads_ * depth_;
        for (double* a :
             {out_.log10_grad_norm, out_.log10_grad_norm_rms, out_.log10_weight_grad_norm})
            std::fill(a, a + per_layer, kNaN);
    }

    void begin_forward() {
        load_inputs();
        std::fill(fscale_.begin(), fscale_.end(), 0.0);
        k0_ = n_heads_;
    }

    // Layer l from the activations in x_. With pass.store, keeps what the
    // backward pass needs; the first pass (pass.record) also records the
    // forward statistics and the heads' outputs.
    void forward(std::int64_t l, engine::Pass pass) {
        if (pass.store) store_.first = pass.first;
        const engine::LayerEdges& e = edges_[sz(l)];
        const std::int64_t n_in = in_width(l), n_out = out_width(l), n_next = width(l);
        T* z = pass.store && plan_.keep_weights ? store_.z_of(l) : z_scratch_.data();
        T* h = pass.store && with_norm_ ? store_.h_of(l) : h_tmp_.data();
        T* dphi = pass.store ? store_.dphi_of(l) : dphi_.data();
        const T* x_in = x_.data();
        if (e.reads_concat) {  // a_{l-1} joins the concat as its last channels
            const std::int64_t c = channels(l - 1);
            blocks::copy_channels(forward_rows(), pixels_, c, x_.data(), {c, 0}, concat_.data(),
                                  {e.in_channels, e.in_channels - c});
            keep_slot_scale(slot_of(e.in_channels - c));
            align_concat(l);
            x_in = concat_.data();
        }
        if (pass.store) {
            gram_blocks(x_in, 0, configs_, n_in, store_.gram_of(l));
            std::copy(fscale_.begin(), fscale_.end(), store_.fscale_of(l));
            if (Map::keeps_inputs) std::copy(x_in, x_in + rows_ * n_in, store_.a_of(l));
        }
        if (edges_[sz(l - 1)].skip_source) {
            std::copy(x_.begin(), x_.begin() + rows_ * width(l - 1), block_input_.begin());
            if (g_.c2f_bottlenecks > 0)
                std::copy(fscale_.begin(), fscale_.end(), block_input_scale_.begin());
        }
        draw_weights(l, z);
        standard_biases(g_.seed, std::uint32_t(l), map_.outputs(l), bias_.data());
        affine(l, z, bias_.data(), x_in, h);
        normalize(l, h, phi_.data(), n_out);
        activate(phi_.data(), phi_.data(), dphi, n_out);  // phi_: N(h) -> phi(N(h))
        if (pass.record) record_forward_stats(l, h, dphi, n_out);
        const T* branch = phi_.data();
        if (e.side_channels > 0) {  // the side channels wait in the concat; the rest go on
            blocks::copy_channels(forward_rows(), pixels_, e.side_channels, phi_.data(),
                                  {e.out_channels, 0}, concat_.data(),
                                  {concat_width(l), e.side_at});
            keep_slot_scale(slot_of(e.side_at));  // phi's rows have their input's scale
            blocks::copy_channels(forward_rows(), pixels_, channels(l), phi_.data(),
                                  {e.out_channels, e.side_channels}, branch_.data(),
                                  {channels(l), 0});
            branch = branch_.data();
        }
        if (e.skip_from >= 0 && e.skip_from < l - 1 && g_.c2f_bottlenecks > 0)
            align_block_input(width(e.skip_from));
        update_activations(l, branch, x_next_.data(), n_next);
        if (pass.record) record_activation_overflow(l, x_next_.data(), n_next);
        // Within a block the rows keep the block input's scale (the skip adds to it).
        // In C2f blocks at every layer: each part of the concat keeps its own scale.
        if (closes_block(l) || g_.c2f_bottlenecks > 0) rescale_homogeneous(x_next_.data(), n_next);
        if (e.concat_at >= 0) {
            blocks::copy_channels(forward_rows(), pixels_, channels(l), x_next_.data(),
                                  {channels(l), 0}, concat_.data(), {concat_width(l), e.concat_at});
            keep_slot_scale(slot_of(e.concat_at));
        }
        std::swap(x_, x_next_);
        if (pass.record) save_head_output(l);
    }

    T* checkpoint(std::int64_t slot) { return checkpoints_.data() + slot * rows_ * nmax_; }
    double* fscale_checkpoint(std::int64_t slot) {
        return fscale_checkpoints_.data() + slot * rows_;
    }
    void save_state(std::int64_t slot) {
        const std::int64_t l = slot * plan_.checkpoint_every;
        std::copy(x_.begin(), x_.begin() + rows_ * width(l), checkpoint(slot));
        std::copy(fscale_.begin(), fscale_.end(), fscale_checkpoint(slot));
    }
    void load_state(std::int64_t slot) {
        const std::int64_t l = slot * plan_.checkpoint_every;
        std::copy(checkpoint(slot), checkpoint(slot) + rows_ * width(l), x_.begin());
        std::copy(fscale_checkpoint(slot), fscale_checkpoint(slot) + rows_, fscale_.begin());
    }

    // Layer l back for the heads that have started (heads k >= k0_).
    void backward(std::int64_t l, std::int64_t first) {
        store_.first = first;
        while (k0_ > 0 && heads_[sz(k0_ - 1)] == l) seed_head(--k0_);
        if (k0_ < n_heads_) backward_layer(l, k0_);
    }

    void end_backward() {}

    // A forward non-finite layer counts for the heads that reach it.
    void finish() {
        for (std::int64_t c = 0; c < configs_; ++c)
            for (std::int64_t k = 0; k < n_heads_; ++k) {
                const std::int64_t o = out_index(c, k);
                engine::report_nonfinite(forward_bad_, c, backward_bad_, o, heads_[sz(k)], 0,
                                         out_.first_nonfinite_layer + o, out_.nonfinite_kind + o);
            }
    }

private:
    std::int64_t width(std::int64_t l) const { return g_.widths[sz(l)]; }
    std::int64_t channels(std::int64_t l) const { return width(l) / pixels_; }
    // What layer l's map reads (a concat's whole width) and writes (side channels included).
    std::int64_t in_width(std::int64_t l) const { return edges_[sz(l)].in_channels * pixels_; }
    std::int64_t out_width(std::int64_t l) const { return edges_[sz(l)].out_channels * pixels_; }
    // Blocks of span_ layers: no edge crosses from one block to the next, so
    // homogeneous rows are rescaled and checkpoints are taken only where one closes.
    bool closes_block(std::int64_t l) const { return l % span_ == 0; }
    // Channels of the concat that a_l (a tap of the current C2f block) joins: its last layer's
    // input.
    std::int64_t concat_width(std::int64_t l) const {
        return edges_[sz((l + span_ - 1) / span_ * span_)].in_channels;
    }
    // Config of a forward row, or of a backward row (rows repeat per head).
    std::int64_t config_of(std::int64_t row) const { return (row / batch_) % configs_; }
    std::int64_t out_index(std::int64_t c, std::int64_t k) const { return c * n_heads_ + k; }
    double* grad_out(double* base, std::int64_t c, std::int64_t k, std::int64_t l) const {
        return base + (out_index(c, k) * depth_ + (l - 1));
    }

    // --- forward -----------------------------------------------------------

    void draw_weights(std::int64_t l, T* z) { map_.draw(l, z, threads_); }

    // The group's rows forward (configuration, sample), or backward from head k0 on.
    blocks::Rows forward_rows() const { return {0, rows_, batch_, configs_, threads_}; }
    blocks::Rows backward_rows(std::int64_t k0) const {
        return {k0 * rows_, grad_rows_, batch_, configs_, threads_};
    }
    // What each configuration sets for the blocks of layer l.
    auto dense_scales(std::int64_t l) const {
        return [this, l](std::int64_t c) {
            return std::pair{cfg_[sz(c)].weight_scale[sz(l - 1)],
                             cfg_[sz(c)].bias_scale[sz(l - 1)]};
        };
    }
    auto norm_of() const {
        return [this](std::int64_t c) { return cfg_[sz(c)].norm; };
    }
    auto activation_of() const {
        return [this](std::int64_t c) {
            return std::pair{cfg_[sz(c)].activation, cfg_[sz(c)].activation_param};
        };
    }
    auto skip_of() const {
        return [this](std::int64_t c) { return cfg_[sz(c)].residual; };
    }
    auto alpha_of() const {
        return [this](std::int64_t c) { return cfg_[sz(c)].alpha; };
    }

    // h = s_l Z_l a + t_l z_l for every configuration, from x (rows x n_in):
    // one product for the group.
    void affine(std::int64_t l, const T* z, const T* bias, const T* x, T* h) {
        map_.forward(forward_rows(), l, x, z, bias, dense_scales(l), h);
    }

    // ht = N(h) per configuration; inv_std_rows_ (layer norm, per sample) and
    // inv_std_units_ (batch norm, per config and unit) keep what the backward pass needs.
    void normalize(std::int64_t l, const T* h, T* ht, std::int64_t n) {
        blocks::norm_forward(forward_rows(), h, ht, n, map_.outputs(l), g_.norm_eps, norm_of(),
                             inv_std_rows_.data(), inv_std_units_.data());
    }

    void activate(const T* ht, T* phi, T* dphi, std::int64_t n) {
        blocks::activation_forward(forward_rows(), ht, phi, dphi, n, activation_of());
    }

    // a_l from phi(N(h_l)) and, where layer l closes a residual block, the block's input.
    void update_activations(std::int64_t l, const T* phi, T* x_next, std::int64_t n) {
        const std::int64_t from = edges_[sz(l)].skip_from;
        const T* skip_from = from == l - 1 ? x_.data() : block_input_.data();
        const bool closes = from >= 0;
        blocks::residual_forward(
            forward_rows(), skip_from, phi, x_next, n,
            [this, closes](std::int64_t c) { return closes && cfg_[sz(c)].residual; }, alpha_of());
    }

    // Gram matrices of consecutive blocks of B rows.
    void gram_blocks(const T* x, std::int64_t first_block, std::int64_t blocks, std::int64_t n,
                     double* out) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t j = first_block; j < blocks; ++j)
            detail::gram(x + j * batch_ * n, batch_, n, out + j * batch_ * batch_);
    }

    void record_forward_stats(std::int64_t l, const T* h, const T* dphi, std::int64_t n) {
        const std::int64_t at = l - 1;
        gram_blocks(h, 0, configs_, n, gram_.data());
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t c = 0; c < configs_; ++c) {
            const double* G = gram_.data() + c * batch_ * batch_;
            const double* f = fscale_.data() + c * batch_;  // scale of h_l's rows (that of a_{l-1})
            double sum_sq = 0, cos_sum = 0;
            std::int64_t saturated = 0, dead = 0, pairs = 0;
            bool has_nan = false, has_inf = false, would_overflow = false;
            for (std::int64_t b = 0; b < batch_; ++b) {
                sum_sq += f[b] == 0.0 ? G[b * batch_ + b]
                                      : G[b * batch_ + b] * std::pow(10.0, 2.0 * f[b]);
                for (std::int64_t b2 = b + 1; b2 < batch_; ++b2) {
                    cos_sum +=
                        G[b * batch_ + b2] / std::sqrt(G[b * batch_ + b] * G[b2 * batch_ + b2]);
                    ++pairs;
                }
                const std::int64_t r = c * batch_ + b;
                const detail::DerivativeCount small =
                    detail::count_small_derivatives(dphi + r * n, n);
                const detail::ValueScan row = detail::scan_values(h + r * n, n);
                saturated += small.saturated;
                dead += small.dead;
                has_nan |= row.has_nan;
                has_inf |= row.has_inf;
                // The unscaled float network overflows where its largest |h| would.
                would_overflow |= f[b] != 0.0 && row.largest > 0 &&
                                  std::log10(row.largest) + f[b] >
                                      std::log10(double(std::numeric_limits<T>::max()));
            }
            const double cells = double(batch_ * n);
            out_.q[c * depth_ + at] = sum_sq / cells;
            out_.c[c * depth_ + at] = pairs ? cos_sum / double(pairs) : kNaN;
            out_.saturated_fraction[c * depth_ + at] = double(saturated) / cells;
            out_.dead_fraction[c * depth_ + at] = double(dead) / cells;
            forward_bad_.note(c, l, has_nan, has_inf || would_overflow);
        }
    }

    // Rows of homogeneous configurations back to unit norm, the scale into fscale_.
    void rescale_homogeneous(T* x, std::int64_t n) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r) {
            if (!homogeneous_[sz(config_of(r))]) continue;
            const double log_norm = engine::to_unit_norm(x + r * n, n);
            if (std::isfinite(log_norm)) fscale_[sz(r)] += log_norm;
        }
    }

    // --- a C2f block's parts at their own scales (homogeneous rows) ---------------
    // The state is rescaled at every layer of a C2f block (up to 130 layers); the parts
    // the block reads later keep the scale they had: the concat's slots (side, taps and
    // the last layer's direct input, c channels each) and a pending skip's source.

    std::int64_t slot_of(std::int64_t at) const { return at / c2f_slot_; }

    // The slot's row scales: fscale_ now.
    void keep_slot_scale(std::int64_t slot) {
        std::copy(fscale_.begin(), fscale_.end(), slot_scale_.begin() + slot * rows_);
    }

    // count values at each of `pixels` positions (stride apart) times 10^(from - to):
    // the row held at scale `from`, read at scale `to`.
    static void bring_to_scale(T* v, std::int64_t stride, std::int64_t count, std::int64_t pixels,
                               double from, double to) {
        if (from == to) return;
        const double f = std::pow(10.0, from - to);
        for (std::int64_t p = 0; p < pixels; ++p)
            for (std::int64_t i = 0; i < count; ++i)
                v[p * stride + i] = T(double(v[p * stride + i]) * f);
    }

    // The skip's source (n values a row), kept at its own scale, at the state's before the add.
    void align_block_input(std::int64_t n) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r)
            if (homogeneous_[sz(config_of(r))])
                bring_to_scale(block_input_.data() + r * n, n, n, 1, block_input_scale_[sz(r)],
                               fscale_[sz(r)]);
    }

    // Every slot of layer l's concat brought to the largest slot scale, which becomes the
    // input's (a part far smaller adds nothing the float sums could keep).
    void align_concat(std::int64_t l) {
        const std::int64_t cat = edges_[sz(l)].in_channels, slots = cat / c2f_slot_;
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r) {
            if (!homogeneous_[sz(config_of(r))]) continue;
            double top = slot_scale_[sz(r)];
            for (std::int64_t k = 1; k < slots; ++k)
                top = std::max(top, slot_scale_[sz(k * rows_ + r)]);
            for (std::int64_t k = 0; k < slots; ++k)
                bring_to_scale(concat_.data() + r * pixels_ * cat + k * c2f_slot_, cat, c2f_slot_,
                               pixels_, slot_scale_[sz(k * rows_ + r)], top);
            fscale_[sz(r)] = top;
        }
    }

    // A residual sum a_{l-1} + alpha phi can overflow while h_l is finite.
    void record_activation_overflow(std::int64_t l, const T* x, std::int64_t n) {
        for (std::int64_t c = 0; c < configs_; ++c) {
            if (!cfg_[sz(c)].residual || forward_bad_.seen(c)) continue;
            const T* xc = x + c * batch_ * n;
            bool has_nan = false, has_inf = false;
            for (std::int64_t i = 0; i < batch_ * n; ++i) {
                has_nan |= std::isnan(xc[i]);
                has_inf |= std::isinf(xc[i]);
            }
            forward_bad_.note(c, l, has_nan, has_inf);
        }
    }

    // a_{D_k}, which the sum_squares loss of head k differentiates.
    void save_head_output(std::int64_t l) {
        if (head_outputs_.empty()) return;
        for (std::int64_t k = 0; k < n_heads_; ++k)
            if (heads_[sz(k)] == l) {
                std::copy(x_.begin(), x_.begin() + rows_ * width(l),
                          head_outputs_.begin() + k * rows_ * nmax_);
                std::copy(fscale_.begin(), fscale_.end(), head_fscale_.begin() + k * rows_);
            }
    }

    void load_inputs() {
        // Every configuration sees the same inputs (common random numbers).
        const std::int64_t n0 = width(0);
        standard_inputs(g_.seed, batch_, n0, g_.input_std, x_.data());
        for (std::int64_t c = 1; c < configs_; ++c)
            std::copy(x_.begin(), x_.begin() + batch_ * n0, x_.begin() + c * batch_ * n0);
    }

    // --- backward ----------------------------------------------------------

    // Head k starts at its depth: dl_b/da_{D_k} as a unit vector and a log10 scale.
    void seed_head(std::int64_t k) {
        const std::int64_t n = width(heads_[sz(k)]);
        std::vector<T> u;
        if (g_.loss == Loss::projection) {
            u.resize(sz(batch_ * n));
            standard_projections(g_.seed, batch_, n, u.data());
        }
        for (std::int64_t j = 0; j < rows_; ++j) {
            const std::int64_t r = k * rows_ + j;
            const T* src = g_.loss == Loss::projection
                               ? u.data() + (j % batch_) * n
                               : head_outputs_.data() + k * rows_ * nmax_ + j * n;
            std::copy(src, src + n, grad_.data() + r * n);
            // dl/da = a_{D_k} for sum_squares carries the forward scale of a_{D_k}.
            scale_[sz(r)] = g_.loss == Loss::projection ? 0.0 : head_fscale_[sz(k * rows_ + j)];
        }
        renormalize(grad_.data(), n, k * rows_, (k + 1) * rows_);
    }

    // Rows [r0, r1) of v become unit vectors; their log10 norms are added to scale_.
    void renormalize(T* v, std::int64_t n, std::int64_t r0, std::int64_t r1) {
        engine::to_unit_rows(v + r0 * n, r1 - r0, n, scale_.data() + r0, threads_);
    }

    // Batch norm mixes the samples of a configuration: bring them to one scale first.
    void align_batch_scales(T* v, std::int64_t n, std::int64_t first_block) {
        for (std::int64_t blk = first_block; blk < n_heads_ * configs_; ++blk) {
            if (cfg_[sz(blk % configs_)].norm != Norm::batch) continue;
            double* s = scale_.data() + blk * batch_;
            const double top = *std::max_element(s, s + batch_);
            if (!std::isfinite(top)) continue;
            for (std::int64_t b = 0; b < batch_; ++b) {
                const double f = std::pow(10.0, s[b] - top);
                T* vr = v + (blk * batch_ + b) * n;
                for (std::int64_t i = 0; i < n; ++i) vr[i] = T(double(vr[i]) * f);
                s[b] = top;
            }
        }
    }

    // Per-layer gradient outputs from g = dl/dh_l (unit rows times 10^scale_).
    void record_backward_stats(std::int64_t l, const T* g, std::int64_t n, std::int64_t k0) {
        const std::int64_t blocks = n_heads_ * configs_;
        gram_blocks(g, k0 * configs_, blocks, n, gram_.data());
        const double* gram_a = store_.gram_of(l);
        const double* fscale_a = store_.fscale_of(l);
        // A map that keeps its inputs gives the Gram of the per-sample weight gradients itself
        // (paired with a Gram of ones); a dense layer's is Gd * Ga, elementwise.
        if constexpr (Map::keeps_inputs)
            map_.weight_gradient_grams(backward_rows(k0), l, g, store_.a_of(l),
                                       weight_gram_.data());
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t blk = k0 * configs_; blk < blocks; ++blk) {
            const std::int64_t k = blk / configs_, c = blk % configs_;
            const double* Gd = gram_.data() + blk * batch_ * batch_;
            const double* Ga = gram_a + c * batch_ * batch_;
            const double* s = scale_.data() + blk * batch_;
            double* logs = logs_.data() + blk * batch_;
            for (std::int64_t b = 0; b < batch_; ++b)
                logs[b] = s[b] + 0.5 * std::log10(Gd[b * batch_ + b]);
            *grad_out(out_.log10_grad_norm, c, k, l) = detail::mean(logs, batch_);
            *grad_out(out_.log10_grad_norm_rms, c, k, l) = detail::log10_rms(logs, batch_);
            double t[kMaxBatchOnStack];
            std::vector<double> t_heap;
            double* tb = t;
            if (batch_ > kMaxBatchOnStack) {
                t_heap.resize(sz(batch_));
                tb = t_heap.data();
            }
            *grad_out(out_.log10_weight_grad_norm, c, k, l) =
                Map::keeps_inputs
                    ? blocks::log10_weight_gradient_norm(
                          batch_, s, fscale_a + c * batch_,
                          weight_gram_.data() + blk * batch_ * batch_, ones_.data(), tb)
                    : blocks::log10_weight_gradient_norm(batch_, s, fscale_a + c * batch_, Gd, Ga,
                                                         tb);
            backward_bad_.note_log_norms(out_index(c, k), l, logs, batch_);
        }
    }

    // dl/da_l of the rows [r0, grad_rows_) at a block's last layer, with their scales:
    // what the skip carries to the block's input.
    void keep_skip_gradient(const T* v, std::int64_t n, std::int64_t r0) {
        std::copy(v + r0 * n, v + grad_rows_ * n, skip_grad_.begin() + r0 * n);
        std::copy(scale_.begin() + r0, scale_.end(), skip_scale_.begin() + r0);
    }

    // prev (dl/d of the block's input through the block, at scale_) plus the kept
    // skip gradient, for residual configurations, brought to the larger scale.
    void add_skip_gradient(T* prev, std::int64_t n, std::int64_t r0) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = r0; r < grad_rows_; ++r) {
            if (!cfg_[sz(config_of(r))].residual) continue;
            const engine::ScaledSum sum = engine::scaled_sum(scale_[sz(r)], skip_scale_[sz(r)]);
            scale_[sz(r)] = sum.top;
            if (!sum.combine) continue;
            const T* kept = skip_grad_.data() + r * n;
            T* out = prev + r * n;
            const T f_prev = T(sum.f_a), f_skip = T(sum.f_b);
            for (std::int64_t i = 0; i < n; ++i) out[i] = f_prev * out[i] + f_skip * kept[i];
        }
    }

    // At a C2f block's last layer: prev, dl/d(its concat input), is kept with its
    // scales for the taps; prev becomes dl/da_{l-1}, the concat's last channels.
    void keep_concat_gradient(T* prev, std::int64_t l, std::int64_t r0) {
        const std::int64_t cat = edges_[sz(l)].in_channels, c = channels(l - 1);
        std::copy(prev + r0 * cat * pixels_, prev + grad_rows_ * cat * pixels_,
                  concat_grad_.begin() + r0 * cat * pixels_);
        std::copy(scale_.begin() + r0, scale_.end(), concat_scale_.begin() + r0);
        blocks::copy_channels(backward_rows(r0 / rows_), pixels_, c, concat_grad_.data(),
                              {cat, cat - c}, prev, {c, 0});
    }

    // dl/da_j (prev) plus what the concat's channels of a_j received, for a tap a_j.
    void add_concat_gradient(T* prev, std::int64_t j, std::int64_t r0) {
        blocks::add_scaled_channels(backward_rows(r0 / rows_), pixels_, channels(j),
                                    concat_grad_.data(), {concat_width(j), edges_[sz(j)].concat_at},
                                    concat_scale_.data(), prev, scale_.data());
    }

    // dl/d(layer l's outputs) for a layer with side channels: [what the concat's
    // side channels received | v = dl/da_l], brought to one scale per row, in wide_.
    T* with_side_gradient(std::int64_t l, const T* v, std::int64_t r0) {
        const engine::LayerEdges& e = edges_[sz(l)];
        const std::int64_t side = e.side_channels, c = channels(l), out = e.out_channels;
        const std::int64_t cat = concat_width(l), at = e.side_at;
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = r0; r < grad_rows_; ++r) {
            const engine::ScaledSum sum = engine::scaled_sum(scale_[sz(r)], concat_scale_[sz(r)]);
            scale_[sz(r)] = sum.top;
            const T f_v = T(sum.f_a), f_side = sum.combine ? T(sum.f_b) : T(0);
            for (std::int64_t p = 0; p < pixels_; ++p) {
                const T* kept = concat_grad_.data() + (r * pixels_ + p) * cat + at;
                const T* vp = v + (r * pixels_ + p) * c;
                T* w = wide_.data() + (r * pixels_ + p) * out;
                for (std::int64_t i = 0; i < side; ++i) w[i] = f_side * kept[i];
                for (std::int64_t i = 0; i < c; ++i) w[side + i] = f_v * vp[i];
            }
        }
        return wide_.data();
    }

    // One layer back for the heads k >= k0: grad_ holds dl/da_l (unit rows,
    // log scale in scale_); afterwards it holds dl/da_{l-1}.
    void backward_layer(std::int64_t l, std::int64_t k0) {
        const engine::LayerEdges& e = edges_[sz(l)];
        const std::int64_t n_in = width(l - 1), n_out = out_width(l);
        const std::int64_t r0 = k0 * rows_;
        T* v = grad_.data();
        T* g = g_work_.data();
        // N(h_l) into phi_ and the inverse standard deviations, for normalize_backward.
        if (with_norm_) normalize(l, store_.h_of(l), phi_.data(), n_out);
        const T* dphi = store_.dphi_of(l);
        if (e.side_channels > 0) v = with_side_gradient(l, v, r0);
        // Before g is formed from v, so that v (the skip path) and g share one scale.
        align_batch_scales(v, n_out, k0 * configs_);
        const blocks::Rows rows = backward_rows(k0);
        const bool closes = e.skip_from >= 0;
        blocks::activation_backward(rows, dphi, v, g, n_out, [this, closes](std::int64_t c) {
            return closes && cfg_[sz(c)].residual ? cfg_[sz(c)].alpha : 1.0;
        });
        if (with_norm_)
            blocks::norm_backward(rows, phi_.data(), g, n_out, map_.outputs(l), norm_of(),
                                  inv_std_rows_.data(), inv_std_units_.data());
        record_backward_stats(l, g, n_out, k0);
        // dl/da_{l-1} = W_l^T g (+ dl/da_l through the skip connection).
        const T* z = store_.z_of(l);
        if (!plan_.keep_weights) {
            draw_weights(l, z_scratch_.data());
            z = z_scratch_.data();
        }
        T* prev = grad_prev_.data();
        const auto weight_scale = [this, l](std::int64_t c) {
            return cfg_[sz(c)].weight_scale[sz(l - 1)];
        };
        map_.backward(rows, l, g, z, weight_scale, prev);
        if (e.reads_concat) keep_concat_gradient(prev, l, r0);
        // The skip that lands on a_l: added at once from a_{l-1}, or kept until its source.
        if (e.skip_from == l - 1)
            blocks::residual_backward(rows, v, prev, n_in, skip_of());
        else if (closes)
            keep_skip_gradient(v, width(l), r0);
        if (edges_[sz(l - 1)].skip_source) add_skip_gradient(prev, n_in, r0);
        if (edges_[sz(l - 1)].concat_at >= 0) add_concat_gradient(prev, l - 1, r0);
        renormalize(prev, n_in, r0, grad_rows_);
        std::swap(grad_, grad_prev_);
    }

    const MlpGroup& g_;
    const std::vector<MlpConfig>& cfg_;
    const MlpOutputs& out_;
    std::vector<std::int64_t> heads_;
    std::int64_t depth_, batch_, configs_, n_heads_, rows_, grad_rows_, nmax_;
    int threads_;
    bool with_norm_;
    MemoryPlan plan_;
    std::int64_t k0_ = 0;  // heads k >= k0_ have started going back
    std::vector<T> x_, x_next_, h_tmp_, phi_, dphi_, head_outputs_;
    detail::Buffer<T> checkpoints_;
    std::vector<T> grad_, grad_prev_, g_work_;
    std::vector<double> inv_std_rows_, inv_std_units_, scale_, logs_, gram_;
    // Positively homogeneous networks (linear/relu/leaky_relu, no bias, no norm)
    // satisfy f(s a) = s f(a): their forward rows are kept at unit norm with the
    // log10 scale in fscale_ (a_l = x_ * 10^fscale_), so the forward pass is
    // exact in log space too and never under- or overflows; where the float
    // network itself would overflow is still reported (see record_forward_stats).
    std::vector<double> fscale_, fscale_checkpoints_, head_fscale_;
    std::vector<bool> homogeneous_;
    engine::FirstNonFinite forward_bad_{true}, backward_bad_{false};
    SegmentStore<T> store_;
    std::vector<T> bias_;                     // this layer's standard bias vector
    detail::Buffer<T> z_scratch_;             // Z_l when it is not kept in the store
    Map map_;                                 // the layers' linear map
    std::vector<double> weight_gram_, ones_;  // see record_backward_stats
    std::int64_t span_ = g_.skip_span;        // layers per block (see closes_block)
    std::vector<engine::LayerEdges> edges_ = engine::feedforward_edges(g_);
    std::int64_t pixels_ = engine::pixels_of(g_);  // rows are pixels x channels (dense: 1 pixel)
    // C2f: the concat a block's last layer reads, filled as its taps are computed; the
    // compacted outputs of a layer with side channels; backward, the concat's gradient
    // with its row scales, and a layer's gradient widened by its side channels.
    std::vector<T> concat_, branch_, concat_grad_, wide_;
    std::vector<double> concat_scale_;
    // C2f, homogeneous rows: each concat slot's row scales and the skip source's; every
    // slot of a C2f concat has the block's hidden channels c.
    std::vector<double> slot_scale_, block_input_scale_;
    std::int64_t c2f_slot_ = g_.c2f_bottlenecks > 0 ? edges_[1].side_channels : 1;
    std::vector<T> block_input_, skip_grad_;  // a block's input; dl/d(its output) for the skip
    std::vector<double> skip_scale_;          // skip_grad_'s row scales
};

}  // namespace

MemoryPlan plan_mlp_memory(const MlpGroup& g, std::int64_t n_configs, std::int64_t value_bytes,
                           bool with_norm) {
    if (g.widths.size() < 2) throw std::invalid_argument("widths must hold n_0..n_L with L >= 1");
    for (auto w : g.widths)
        if (w < 1)
            throw std::invalid_argument("every width must be >= 1, got " + std::to_string(w));
    if (g.batch < 1 || n_configs < 1 || value_bytes < 1)
        throw std::invalid_argument("batch, n_configs and value_bytes must be >= 1");
    const std::int64_t depth = std::int64_t(g.widths.size()) - 1;
    const std::int64_t nmax = widest_row(g);
    const std::int64_t heads = std::int64_t(heads_of(g).size());
    const std::int64_t rows = n_configs * g.batch;
    const std::int64_t row_block = rows * nmax * value_bytes;  // one activation matrix
    // Kept per layer: phi' (and h with normalization), the Gram matrices of
    // a_{l-1} and its rows' scales; and, when they fit, Z_l.
    // Convolutions keep a_{l-1} too (their weight gradient sums over positions).
    const std::int64_t per_layer_activations = (with_norm ? 2 : 1) * row_block +
                                               (g.conv.channels > 0 ? row_block : 0) +
                                               n_configs * g.batch * g.batch * 8 + rows * 8;
    const std::int64_t weights = kernel_elements(g) * value_bytes;
    const std::int64_t per_layer = weights + per_layer_activations;
    // Forward work buffers (5 activation matrices and inv_std), backward buffers
    // (3 per head, plus the heads' outputs for sum_squares), Gram matrices, the
    // drawn layer with a QR copy, and its bias.
    const std::int64_t heads_out = g.loss == Loss::sum_squares ? heads * row_block : 0;
    // A convolution's im2col matrix of every backward row, and for its weight gradient the
    // per-sample kernel gradients and transposed rows of one block, and the blocks' Gram matrices
    // (Conv2dMap::weight_gradient_grams).
    const Conv2dGeometry& conv = g.conv;
    std::int64_t patch = 0, channels = 0;  // the widest im2col row and the most channels
    if (conv.channels > 0) {
        const std::int64_t pixels = conv.height * conv.width;
        const std::vector<engine::LayerEdges> edges = engine::feedforward_edges(g);
        for (std::size_t l = 1; l < g.widths.size(); ++l) {
            const std::int64_t k = conv.kernels.empty() ? conv.kernel : conv.kernels[l - 1];
            patch = std::max(patch, k * k * edges[l].in_channels);
        }
        channels = nmax / pixels;
    }
    const std::int64_t cols = conv.channels > 0 ? (heads * rows * conv.height * conv.width * patch +
                                                   g.batch * channels * patch +
                                                   g.batch * channels * conv.height * conv.width) *
                                                          value_bytes +
                                                      heads * n_configs * g.batch * g.batch * 8
                                                : 0;
    // Residual blocks of several layers: the block's input, and the skip's gradient per head.
    const std::int64_t blocks = g.skip_span > 1 ? row_block + heads * (row_block + rows * 8) : 0;
    // C2f: the concat and a layer's compacted outputs; per head, the concat's gradient with its
    // row scales and a layer's gradient widened by its side channels.
    const std::int64_t concat =
        g.c2f_bottlenecks > 0 ? 2 * row_block + heads * (2 * row_block + rows * 8) : 0;
    const std::int64_t fixed = 5 * row_block + rows * nmax * 8 + 3 * heads * row_block + heads_out +
                               heads * rows * (g.batch + 2) * 8 + 3 * kernel_elements(g) * 8 +
                               weights + nmax * value_bytes + cols + blocks + concat;
    // A checkpoint holds a layer's activations and their row scales.
    MemoryPlan plan = engine::plan_chain_memory(
        {depth, per_layer_activations, weights, row_block, row_block + rows * 8, fixed},
        g.store_budget_bytes, g.checkpoint_every);
    // Checkpoints at block boundaries only (a block's input is then the checkpointed state).
    const std::int64_t span = std::max<std::int64_t>(g.skip_span, 1);
    if (span > 1 && plan.checkpoint_every % span != 0) {
        const std::int64_t k = std::min(depth, (plan.checkpoint_every + span - 1) / span * span);
        const std::int64_t per_position = per_layer_activations + (plan.keep_weights ? weights : 0);
        plan.bytes += (k - plan.checkpoint_every) * per_position;
        plan.checkpoint_every = k;
    }
    return plan;
}

template <typename T>
RunStatus run_mlp_group(const MlpGroup& group, const std::vector<MlpConfig>& configs,
                        const MlpOutputs& out, const ProgressHook& hook) {
    check_group(group, configs);
    if (group.conv.channels > 0) {
        MlpEngine<T, blocks::Conv2dMap<T>> engine(group, configs, out);
        return engine.run(hook);
    }
    MlpEngine<T, blocks::DenseMap<T>> engine(group, configs, out);
    return engine.run(hook);
}

template RunStatus run_mlp_group<float>(const MlpGroup&, const std::vector<MlpConfig>&,
                                        const MlpOutputs&, const ProgressHook&);
template RunStatus run_mlp_group<double>(const MlpGroup&, const std::vector<MlpConfig>&,
                                         const MlpOutputs&, const ProgressHook&);

}  // namespace gradatlas
