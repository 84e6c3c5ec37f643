#include "gradatlas/recurrent.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "blocks/gru_cell.hpp"
#include "blocks/lstm_cell.hpp"
#include "blocks/rnn_cell.hpp"
#include "buffer.hpp"
#include "engine/chain_driver.hpp"
#include "engine/first_nonfinite.hpp"
#include "engine/memory_plan.hpp"
#include "engine/unit_rows.hpp"
#include "gradatlas/blas.hpp"
#include "gradatlas/det_gemm.hpp"
#include "gradatlas/rng.hpp"
#include "log_space.hpp"
#include "row_scan.hpp"
#include "thread_count.hpp"

namespace gradatlas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::int64_t kMaxSteps = 10'000'000;  // step index is a 32-bit generator counter
// Steps whose input products W_ih x_t are computed in one call: a 16-row
// product runs at ~1/3 of the speed of a 128-row one. The block is fixed, so
// each step's product has the same shape (and bits) in every run.
constexpr std::int64_t kInputBlock = 8;

// Sub-streams of Stream::recurrent.
enum : std::uint32_t { kInputWeights = 1, kHiddenWeights = 2, kOrthogonal = 3, kBiases = 4 };
enum : std::uint32_t { kInitialHidden = 5, kInitialCell = 6 };

std::size_t sz(std::int64_t v) {
    return static_cast<std::size_t>(v);
}

// Calls f with the block of the group's cell: the one place that tells cells apart.
template <typename F>
decltype(auto) with_cell(Cell cell, F&& f) {
    switch (cell) {
        case Cell::rnn:
            return f(blocks::RnnCell{});
        case Cell::lstm:
            return f(blocks::LstmCell{});
        case Cell::gru:
            return f(blocks::GruCell{});
    }
    throw std::invalid_argument("unknown cell code " + std::to_string(int(cell)));
}

std::int64_t cache_units(Cell cell) {
    return with_cell(cell, [](auto c) { return std::int64_t(decltype(c)::cache_units); });
}

std::int64_t state_units(Cell cell) {
    return with_cell(cell, [](auto c) { return std::int64_t(decltype(c)::state_units); });
}

void check_group(const RecurrentGroup& g, const std::vector<RecurrentConfig>& configs) {
    auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
    if (int(g.cell) < 0 || int(g.cell) > int(Cell::gru)) fail("unknown cell code");
    if (int(g.dist) < 0 || int(g.dist) > int(RecurrentDist::identity))
        fail("unknown recurrent weight distribution code");
    if (g.width < 1 || g.input_width < 1) fail("width and input_width must be >= 1");
    if (g.steps < 1 || g.steps > kMaxSteps)
        fail("steps must be in 1.." + std::to_string(kMaxSteps) + ", got " +
             std::to_string(g.steps));
    if (g.batch < 1) fail("batch must be >= 1, got " + std::to_string(g.batch));
    if (g.n_threads < 1) fail("n_threads must be >= 1");
    if (configs.empty()) fail("a group needs at least one configuration");
    for (const auto& c : configs)
        if (int(c.activation) < 0 || int(c.activation) >= activation_count)
            fail("unknown activation code");
}

// The recurrent chain: the rows' hidden (and cell) state carried through
// steps 1..T by the cell block C, whose weights are shared across steps.
template <typename T, class C>
class RecurrentEngine {
public:
    RecurrentEngine(const RecurrentGroup& g, const std::vector<RecurrentConfig>& cfg,
                    const RecurrentOutputs& out)
        : g_(g),
          cfg_(cfg),
          out_(out),
          n_(g.width),
          n_in_(g.input_width),
          gates_(C::gates),
          gn_(gates_ * n_),
          steps_(g.steps),
          batch_(g.batch),
          configs_(std::int64_t(cfg.size())),
          rows_(batch_ * configs_),
          cw_(C::cache_units * n_),
          threads_(detail::threads_for(rows_ * gn_ * n_, g.n_threads)),
          plan_(plan_recurrent_memory(g, configs_, sizeof(T))),
          segmented_(plan_.checkpoint_every < steps_) {}

    RunStatus run(const ProgressHook& hook) {
        return engine::run_chain(*this, steps_, plan_.checkpoint_every, hook);
    }

    // --- the chain (see engine/chain_driver.hpp) ------------------------------

    int threads() const { return threads_; }

    void begin_forward() {
        load_initial_state();
        record_forward_stats(0, nullptr);
    }

    // Step t; its cache is stored for the backward pass with pass.store.
    void forward(std::int64_t t, engine::Pass pass) {
        T* cache = pass.store ? cache_slot(t, pass.first) : scratch_.data();
        step_forward(t, cache);
        if (pass.record) record_forward_stats(t, cache);
    }

    void backward(std::int64_t t, std::int64_t first) {
        const T* cache = cache_slot(t, first);
        add_loss_terms(t, cache);
        record_hidden_gradient(t);
        step_backward(t, cache);
    }

    void end_backward() {
        record_hidden_gradient(0);
        if constexpr (C::reports_cell_gradient) {
#pragma omp parallel for schedule(static) num_threads(threads_)
            for (std::int64_t r = 0; r < rows_; ++r)
                cell_logs_[sz(r)] =
                    scale_[sz(r)] + std::log10(detail::norm2(vc_.data() + r * n_, n_));
            record_norms(0, cell_logs_, out_.log10_cell_grad_norm, nullptr, false);
        }
    }

    void finish() {
        for (std::int64_t c = 0; c < configs_; ++c)
            engine::report_nonfinite(forward_bad_, c, backward_bad_, c, steps_, -1,
                                     out_.first_nonfinite_step + c, out_.nonfinite_kind + c);
    }
    void allocate() {
        const std::int64_t k = plan_.checkpoint_every;
        const std::int64_t state = rows_ * n_;
        h_.assign(sz(state), T(0));
        c_.assign(kCellState ? sz(state) : 0, T(0));
        hh_.assign(sz(rows_ * gn_), T(0));
        ih_.assign(sz(kInputBlock * batch_ * gn_), T(0));
        xi_.assign(sz(kInputBlock * batch_ * n_in_), T(0));
        z_hh_.assign(sz(gn_ * n_), T(0));
        recurrent_hidden_weights(g_.seed, g_.cell, g_.dist, n_, z_hh_.data());
        std::vector<T> z_ih(sz(gn_ * n_in_));  // only its transpose is kept
        recurrent_input_weights(g_.seed, g_.cell, n_, n_in_, z_ih.data());
        // The forward products use Z^T (see det_gemm.hpp): transposed once per run.
        zt_hh_.assign(sz(gn_ * n_), T(0));
        zt_ih_.assign(sz(gn_ * n_in_), T(0));
        detail::transpose(z_hh_.data(), gn_, n_, zt_hh_.data(), threads_);
        detail::transpose(z_ih.data(), gn_, n_in_, zt_ih_.data(), threads_);
        cache_.resize(sz(k * rows_ * cw_), threads_);
        scratch_.assign(segmented_ ? sz(rows_ * cw_) : 0, T(0));
        checkpoints_.resize(sz(((steps_ + k - 1) / k) * state * C::state_units), threads_);
        any_input_ = std::any_of(cfg_.begin(), cfg_.end(),
                                 [](const RecurrentConfig& c) { return c.input_scale != 0.0; });
        // b_ih per configuration; b_hh is zero.
        std::vector<T> zb(sz(gn_));
        recurrent_biases(g_.seed, g_.cell, n_, zb.data());
        bias_.assign(sz(configs_ * gn_), T(0));
        for (std::int64_t c = 0; c < configs_; ++c)
            for (std::int64_t j = 0; j < gn_; ++j) {
                const bool forget = C::forget_slice(j, n_);
                bias_[sz(c * gn_ + j)] = T(cfg_[sz(c)].bias_scale * double(zb[sz(j)]) +
                                           (forget ? cfg_[sz(c)].forget_bias : 0.0));
            }
        vh_.assign(sz(state), T(0));
        vc_.assign(kCellState ? sz(state) : 0, T(0));
        dc_.assign(kCellState ? sz(state) : 0, T(0));
        prev_.assign(sz(state), T(0));
        p_.assign(sz(rows_ * gn_), T(0));
        proj_.assign(sz(batch_ * n_), T(0));
        scale_.assign(sz(rows_), 0.0);
        logs_.assign(sz(rows_), 0.0);
        cell_logs_.assign(sz(rows_), 0.0);
        row_sum_sq_.assign(sz(rows_), 0.0);
        row_saturated_.assign(sz(rows_), 0);
        row_bad_.assign(sz(rows_), NonFinite::none);
        forward_bad_.reset(configs_);
        backward_bad_.reset(configs_);
        const std::int64_t per_step = configs_ * (steps_ + 1);
        for (double* a : {out_.log10_grad_norm, out_.log10_grad_norm_rms, out_.log10_cell_grad_norm,
                          out_.q, out_.saturated_fraction})
            std::fill(a, a + per_step, kNaN);
    }

    void save_state(std::int64_t slot) {
        T* dst = checkpoints_.data() + slot * rows_ * n_ * C::state_units;
        std::copy(h_.begin(), h_.end(), dst);
        if (kCellState) std::copy(c_.begin(), c_.end(), dst + rows_ * n_);
    }

    void load_state(std::int64_t slot) {
        const T* src = checkpoints_.data() + slot * rows_ * n_ * C::state_units;
        std::copy(src, src + rows_ * n_, h_.begin());
        if (kCellState) std::copy(src + rows_ * n_, src + 2 * rows_ * n_, c_.begin());
    }

private:
    static constexpr bool kCellState = C::state_units == 2;
    std::int64_t config_of(std::int64_t row) const { return row / batch_; }
    const RecurrentConfig& cfg(std::int64_t row) const { return cfg_[sz(config_of(row))]; }
    double* at(double* base, std::int64_t c, std::int64_t t) const {
        return base + c * (steps_ + 1) + t;
    }

    // --- forward -----------------------------------------------------------

    void load_initial_state() {
        std::vector<T> z(sz(batch_ * n_));
        for (int which = 0; which < C::state_units; ++which) {
            recurrent_initial_state(g_.seed, which, batch_, n_, z.data());
            T* dst = which == 0 ? h_.data() : c_.data();
            for (std::int64_t r = 0; r < rows_; ++r) {
                const T s = T(cfg(r).h0_scale);
                const T* zr = z.data() + (r % batch_) * n_;
                for (std::int64_t i = 0; i < n_; ++i) dst[r * n_ + i] = s * zr[i];
            }
        }
    }

    // One step: h_ (and c_) go from t-1 to t; the step's cache goes to `cache`
    // (rows x cw_).
    void step_forward(std::int64_t t, T* cache) {
        if (any_input_) load_input_product(t);
        detail::gemm_nn(rows_, gn_, n_, h_.data(), n_, zt_hh_.data(), gn_, hh_.data(), gn_,
                        threads_);
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r) cell_forward(r, cache + r * cw_);
    }

    // ih_step_ = Z_ih xi_t (B x G n), shared by every configuration, from the
    // block of kInputBlock steps holding t (drawn past T in the last block).
    void load_input_product(std::int64_t t) {
        const std::int64_t block = (t - 1) / kInputBlock;
        if (block != ih_block_) {
            const std::int64_t rows = kInputBlock * batch_;
            for (std::int64_t j = 0; j < kInputBlock; ++j)
                recurrent_inputs(g_.seed, block * kInputBlock + j + 1, batch_, n_in_,
                                 xi_.data() + j * batch_ * n_in_);
            detail::gemm_nn(rows, gn_, n_in_, xi_.data(), n_in_, zt_ih_.data(), gn_, ih_.data(),
                            gn_, threads_);
            ih_block_ = block;
        }
        ih_step_ = ih_.data() + ((t - 1) % kInputBlock) * batch_ * gn_;
    }

    void cell_forward(std::int64_t r, T* cache) {
        const RecurrentConfig& c = cfg(r);
        T* pre = hh_.data() + r * gn_;  // overwritten in place: this row's product is used once
        const blocks::CellStep<T> step{T(c.weight_scale),
                                       T(c.input_scale),
                                       pre,
                                       any_input_ ? ih_step_ + (r % batch_) * gn_ : nullptr,
                                       bias_.data() + config_of(r) * gn_,
                                       n_};
        C::forward(c, step, pre, h_.data() + r * n_, kCellState ? c_.data() + r * n_ : nullptr,
                   cache);
    }

    // Per row (in parallel: a single configuration is a common case), then per
    // configuration: q, the saturated units (the activation for rnn, every gate
    // otherwise) and non-finite states.
    void record_forward_stats(std::int64_t t, const T* cache) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r) {
            const T* h = h_.data() + r * n_;
            const detail::ValueScan scan = detail::scan_values(h, n_);
            row_sum_sq_[sz(r)] = detail::dot(h, h, n_);
            row_saturated_[sz(r)] =
                cache ? detail::count_small_derivatives(derivatives(cache + r * cw_), gn_).saturated
                      : 0;
            row_bad_[sz(r)] = scan.has_nan   ? NonFinite::forward_nan
                              : scan.has_inf ? NonFinite::forward_overflow
                                             : NonFinite::none;
        }
        for (std::int64_t c = 0; c < configs_; ++c) {
            double sum_sq = 0;
            std::int64_t saturated = 0;
            bool has_nan = false, has_inf = false;
            for (std::int64_t r = c * batch_; r < (c + 1) * batch_; ++r) {
                sum_sq += row_sum_sq_[sz(r)];
                saturated += row_saturated_[sz(r)];
                has_nan |= row_bad_[sz(r)] == NonFinite::forward_nan;
                has_inf |= row_bad_[sz(r)] == NonFinite::forward_overflow;
            }
            *at(out_.q, c, t) = sum_sq / double(batch_ * n_);
            if (cache)
                *at(out_.saturated_fraction, c, t) = double(saturated) / double(batch_ * gn_);
            forward_bad_.note(c, t, has_nan, has_inf);
        }
    }

    // The derivatives in a row's cache: the activation's (rnn) or the gates'.
    const T* derivatives(const T* cache) const { return cache + C::derivatives_at * n_; }

    T* cache_slot(std::int64_t t, std::int64_t first) {
        return cache_.data() + (t - first) * rows_ * cw_;
    }

    // --- backward ----------------------------------------------------------

    // Row r of [vh | vc] becomes a unit vector; its log10 norm goes to scale_.
    void renormalize_row(std::int64_t r) {
        T* vc = kCellState ? vc_.data() + r * n_ : nullptr;
        scale_[sz(r)] += engine::to_unit_norm(vh_.data() + r * n_, n_, vc, vc ? n_ : 0);
    }

    // The loss's own gradient at h_t: u_t (projection) or h_t (sum_squares).
    void add_loss_terms(std::int64_t t, const T* cache) {
        const bool last = t == steps_;
        if (!last && std::none_of(cfg_.begin(), cfg_.end(),
                                  [](const RecurrentConfig& c) { return c.loss_every_step; }))
            return;
        if (g_.loss == Loss::projection)
            recurrent_projections(g_.seed, t, batch_, n_, proj_.data());
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r) {
            if (!last && !cfg(r).loss_every_step) continue;
            const T* d = g_.loss == Loss::projection ? proj_.data() + (r % batch_) * n_
                                                     : cache + r * cw_ + cw_ - n_;  // h_t
            T* vh = vh_.data() + r * n_;
            if (last) {
                std::copy(d, d + n_, vh);
                scale_[sz(r)] = 0.0;
                renormalize_row(r);
                continue;
            }
            // 10^s vh + d, kept as 10^m (10^(s-m) vh + 10^-m d) with m = max(s, 0).
            const double s = scale_[sz(r)], m = std::max(s, 0.0);
            const T keep = T(std::pow(10.0, s - m)), add = T(std::pow(10.0, -m));
            for (std::int64_t i = 0; i < n_; ++i) vh[i] = keep * vh[i] + add * d[i];
            if (kCellState) {
                T* vc = vc_.data() + r * n_;
                for (std::int64_t i = 0; i < n_; ++i) vc[i] = keep * vc[i];
            }
            scale_[sz(r)] = m;
            renormalize_row(r);  // only rows that changed: grouping must not change a bit
        }
    }

    // Per-config mean and rms of per-sample log10 norms at step t; NaN/inf marks
    // the first non-finite step met going back.
    void record_norms(std::int64_t t, const std::vector<double>& logs, double* mean_out,
                      double* rms_out, bool detect) {
        for (std::int64_t c = 0; c < configs_; ++c) {
            const double* l = logs.data() + c * batch_;
            *at(mean_out, c, t) = detail::mean(l, batch_);
            if (rms_out) *at(rms_out, c, t) = detail::log10_rms(l, batch_);
            if (detect) backward_bad_.note_log_norms(c, t, l, batch_);
        }
    }

    void record_hidden_gradient(std::int64_t t) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r)
            logs_[sz(r)] = scale_[sz(r)] + std::log10(detail::norm2(vh_.data() + r * n_, n_));
        record_norms(t, logs_, out_.log10_grad_norm, out_.log10_grad_norm_rms, true);
    }

    // p_ = s * (gradient with respect to the pre-activations of W_hh h_{t-1});
    // LSTM: vc_ becomes dl/dc_{t-1}; GRU: vh_ becomes the direct path z * dl/dh_t.
    void cell_backward(std::int64_t r, const T* cache) {
        T* vc = kCellState ? vc_.data() + r * n_ : nullptr;
        T* dc = kCellState ? dc_.data() + r * n_ : nullptr;  // dl/dc_t, all paths
        const double cell_log = C::backward(T(cfg(r).weight_scale), n_, cache, vh_.data() + r * n_,
                                            vc, dc, p_.data() + r * gn_);
        if constexpr (C::reports_cell_gradient) cell_logs_[sz(r)] = scale_[sz(r)] + cell_log;
    }

    // dl/dh_t (in vh_) -> dl/dh_{t-1}.
    void step_backward(std::int64_t t, const T* cache) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r) cell_backward(r, cache + r * cw_);
        if constexpr (C::reports_cell_gradient)
            record_norms(t, cell_logs_, out_.log10_cell_grad_norm, nullptr, false);
        detail::gemm_nn(rows_, n_, gn_, p_.data(), gn_, z_hh_.data(), n_, prev_.data(), n_,
                        threads_);
        if constexpr (C::direct_path) {
#pragma omp parallel for schedule(static) num_threads(threads_)
            for (std::int64_t r = 0; r < rows_; ++r)
                for (std::int64_t i = 0; i < n_; ++i) prev_[sz(r * n_ + i)] += vh_[sz(r * n_ + i)];
        }
        std::swap(vh_, prev_);
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::int64_t r = 0; r < rows_; ++r) renormalize_row(r);
    }

    const RecurrentGroup& g_;
    const std::vector<RecurrentConfig>& cfg_;
    const RecurrentOutputs& out_;
    std::int64_t n_, n_in_, gates_, gn_, steps_, batch_, configs_, rows_, cw_;
    int threads_;
    MemoryPlan plan_;
    bool segmented_;
    bool any_input_ = false;
    std::vector<T> h_, c_, hh_, ih_, xi_, z_hh_, zt_hh_, zt_ih_, bias_, scratch_;
    detail::Buffer<T> cache_, checkpoints_;  // large: uninitialized, first touched in parallel
    std::int64_t ih_block_ = -1;             // the block of steps whose input products ih_ holds
    const T* ih_step_ = nullptr;
    // Backward state: [vh | vc] per row is a unit vector times 10^scale_.
    std::vector<T> vh_, vc_, prev_, p_, proj_, dc_;
    std::vector<double> scale_, logs_, cell_logs_, row_sum_sq_;
    std::vector<std::int64_t> row_saturated_;
    std::vector<NonFinite> row_bad_;
    engine::FirstNonFinite forward_bad_{true}, backward_bad_{false};
};

template <typename T>
void fill_standard_normal(std::uint64_t seed, Stream stream, std::uint32_t id, std::int64_t count,
                          T* out) {
    fill_normal(seed, stream, id, 0, sz(count), out);
}

}  // namespace

int gate_count(Cell cell) {
    return with_cell(cell, [](auto c) { return decltype(c)::gates; });
}

MemoryPlan plan_recurrent_memory(const RecurrentGroup& g, std::int64_t n_configs,
                                 std::int64_t value_bytes) {
    if (g.width < 1 || g.input_width < 1 || g.steps < 1 || g.batch < 1 || n_configs < 1 ||
        value_bytes < 1)
        throw std::invalid_argument(
            "width, input_width, steps, batch, n_configs and value_bytes must be >= 1");
    const std::int64_t n = g.width, gn = gate_count(g.cell) * n, rows = n_configs * g.batch;
    const std::int64_t step = rows * cache_units(g.cell) * n * value_bytes;
    const std::int64_t state = rows * state_units(g.cell) * n * value_bytes;
    // Matrices, products, forward and backward state, per-row scalars.
    const std::int64_t fixed =
        (2 * gn * (n + g.input_width) + 2 * rows * gn + 5 * rows * n +
         kInputBlock * g.batch * (gn + g.input_width) + g.batch * n + n_configs * gn) *
            value_bytes +
        3 * rows * 8 + step + n * n * 8;  // + the orthogonal init's QR copy
    return engine::plan_chain_memory({g.steps, step, 0, state, state, fixed}, g.store_budget_bytes,
                                     g.checkpoint_every);
}

template <typename T>
RunStatus run_recurrent_group(const RecurrentGroup& group,
                              const std::vector<RecurrentConfig>& configs,
                              const RecurrentOutputs& out, const ProgressHook& hook) {
    check_group(group, configs);
    return with_cell(group.cell, [&](auto c) {
        RecurrentEngine<T, decltype(c)> engine(group, configs, out);
        return engine.run(hook);
    });
}

template <typename T>
void recurrent_hidden_weights(std::uint64_t seed, Cell cell, RecurrentDist dist, std::int64_t n,
                              T* out) {
    const std::int64_t gates = gate_count(cell), block = n * n;
    switch (dist) {
        case RecurrentDist::normal:
            return fill_standard_normal(seed, Stream::recurrent, kHiddenWeights, gates * block,
                                        out);
        case RecurrentDist::uniform:
            return fill_uniform_unit_variance(seed, Stream::recurrent, kHiddenWeights, 0,
                                              sz(gates * block), out);
        case RecurrentDist::orthogonal: {
            // One Haar orthogonal block per gate; the QR in double as for feed-forward weights.
            std::vector<double> q(sz(block));
            for (std::int64_t k = 0; k < gates; ++k) {
                fill_normal(seed, Stream::recurrent, kOrthogonal, std::uint64_t(k * block),
                            sz(block), q.data());
                blas::orthonormalize(q.data(), n, n);
                for (std::int64_t i = 0; i < block; ++i) out[k * block + i] = T(q[sz(i)]);
            }
            return;
        }
        case RecurrentDist::identity:
            std::fill(out, out + gates * block, T(0));
            for (std::int64_t k = 0; k < gates; ++k)
                for (std::int64_t i = 0; i < n; ++i) out[k * block + i * n + i] = T(1);
            return;
    }
    throw std::invalid_argument("unknown recurrent weight distribution code " +
                                std::to_string(int(dist)));
}

template <typename T>
void recurrent_input_weights(std::uint64_t seed, Cell cell, std::int64_t n, std::int64_t n_in,
                             T* out) {
    fill_standard_normal(seed, Stream::recurrent, kInputWeights, gate_count(cell) * n * n_in, out);
}

template <typename T>
void recurrent_biases(std::uint64_t seed, Cell cell, std::int64_t n, T* out) {
    fill_standard_normal(seed, Stream::recurrent, kBiases, gate_count(cell) * n, out);
}

template <typename T>
void recurrent_inputs(std::uint64_t seed, std::int64_t step, std::int64_t batch, std::int64_t n_in,
                      T* out) {
    fill_standard_normal(seed, Stream::inputs, std::uint32_t(step), batch * n_in, out);
}

template <typename T>
void recurrent_initial_state(std::uint64_t seed, int which, std::int64_t batch, std::int64_t n,
                             T* out) {
    fill_standard_normal(seed, Stream::recurrent, which == 0 ? kInitialHidden : kInitialCell,
                         batch * n, out);
}

template <typename T>
void recurrent_projections(std::uint64_t seed, std::int64_t step, std::int64_t batch,
                           std::int64_t n, T* out) {
    fill_standard_normal(seed, Stream::projections, std::uint32_t(step), batch * n, out);
}

#define GRADATLAS_INSTANTIATE(T)                                                                   \
    template RunStatus run_recurrent_group<T>(const RecurrentGroup&,                               \
                                              const std::vector<RecurrentConfig>&,                 \
                                              const RecurrentOutputs&, const ProgressHook&);       \
    template void recurrent_hidden_weights<T>(std::uint64_t, Cell, RecurrentDist, std::int64_t,    \
                                              T*);                                                 \
    template void recurrent_input_weights<T>(std::uint64_t, Cell, std::int64_t, std::int64_t, T*); \
    template void recurrent_biases<T>(std::uint64_t, Cell, std::int64_t, T*);                      \
    template void recurrent_inputs<T>(std::uint64_t, std::int64_t, std::int64_t, std::int64_t,     \
                                      T*);                                                         \
    template void recurrent_initial_state<T>(std::uint64_t, int, std::int64_t, std::int64_t, T*);  \
    template void recurrent_projections<T>(std::uint64_t, std::int64_t, std::int64_t,              \
                                           std::int64_t, T*);
GRADATLAS_INSTANTIATE(float)
GRADATLAS_INSTANTIATE(double)
#undef GRADATLAS_INSTANTIATE

}  // namespace gradatlas
