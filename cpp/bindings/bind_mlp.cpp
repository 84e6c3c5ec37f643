
#include "common.hpp"
#include "gradatlas/mlp.hpp"

namespace gradatlas::bindings {
namespace {

MlpGroup make_group(std::uint64_t seed, const std::vector<std::int64_t>& widths, std::int64_t batch,
                    double input_std, int dist, double norm_eps, std::int64_t checkpoint_every,
                    std::int64_t store_budget_bytes, int n_threads,
                    const std::vector<std::int64_t>& heads, int loss, std::int64_t channels,
                    std::int64_t height, std::int64_t width, std::int64_t kernel, bool circular,
                    bool delta_orthogonal, const std::vector<std::int64_t>& kernels,
                    std::int64_t skip_span, std::int64_t c2f_bottlenecks) {
    if (loss != int(Loss::projection) && loss != int(Loss::sum_squares))
        throw py::value_error("loss code must be 0 (projection) or 1 (sum_squares)");
    if (dist < 0 || dist > int(WeightDist::orthogonal))
        throw py::value_error("weight distribution code must be 0, 1 or 2");
    if (widths.size() < 2) throw py::value_error("widths must hold n_0..n_L with L >= 1");
    for (auto w : widths)
        if (w < 1) throw py::value_error("every width must be >= 1");
    if (batch < 1 || n_threads < 1) throw py::value_error("batch and n_threads must be >= 1");
    MlpGroup g;
    g.seed = seed;
    g.widths = widths;
    g.heads = heads;
    g.loss = static_cast<Loss>(loss);
    g.batch = batch;
    g.input_std = input_std;
    g.dist = static_cast<WeightDist>(dist);
    g.norm_eps = norm_eps;
    g.checkpoint_every = checkpoint_every;
    g.store_budget_bytes = store_budget_bytes;
    g.n_threads = n_threads;
    if (channels < 0) throw py::value_error("channels must be >= 0 (0: dense layers)");
    if (skip_span < 1) throw py::value_error("skip_span must be >= 1");
    if (c2f_bottlenecks < 0) throw py::value_error("c2f_bottlenecks must be >= 0");
    g.conv = {channels, height, width, kernel, kernels, circular, delta_orthogonal};
    g.skip_span = skip_span;
    g.c2f_bottlenecks = c2f_bottlenecks;
    return g;
}

template <typename T>
std::vector<T> row(const carray<T>& a, py::ssize_t i) {
    const py::ssize_t n = a.shape(1);
    return std::vector<T>(a.data() + i * n, a.data() + (i + 1) * n);
}

py::dict run(const std::string& dtype, const MlpGroup& group, const carray<int>& activation,
             const carray<double>& activation_param, const carray<double>& weight_scale,
             const carray<double>& bias_scale, const carray<bool>& residual,
             const carray<double>& alpha, const carray<int>& norm, py::object progress) {
    const py::ssize_t n_configs = activation.shape(0);
    const auto depth = py::ssize_t(group.widths.size()) - 1;
    if (weight_scale.ndim() != 2 || weight_scale.shape(0) != n_configs ||
        weight_scale.shape(1) != depth || bias_scale.ndim() != 2 ||
        bias_scale.shape(0) != n_configs || bias_scale.shape(1) != depth)
        throw py::value_error("weight_scale and bias_scale must have shape (configs, depth)");
    for (auto* a : {&activation_param, &alpha})
        if (a->shape(0) != n_configs) throw py::value_error("per-config arrays differ in length");
    if (residual.shape(0) != n_configs || norm.shape(0) != n_configs)
        throw py::value_error("per-config arrays differ in length");

    std::vector<MlpConfig> configs(static_cast<std::size_t>(n_configs));
    for (py::ssize_t c = 0; c < n_configs; ++c) {
        MlpConfig& cfg = configs[static_cast<std::size_t>(c)];
        if (activation.at(c) < 0 || activation.at(c) >= activation_count)
            throw py::value_error("activation code out of range");
        if (norm.at(c) < 0 || norm.at(c) > int(Norm::layer))
            throw py::value_error("norm code must be 0, 1 or 2");
        cfg.activation = static_cast<Activation>(activation.at(c));
        cfg.activation_param = activation_param.at(c);
        cfg.weight_scale = row(weight_scale, c);
        cfg.bias_scale = row(bias_scale, c);
        cfg.residual = residual.at(c);
        cfg.alpha = alpha.at(c);
        cfg.norm = static_cast<Norm>(norm.at(c));
    }

    // Outputs are allocated while the GIL is held.
    const auto n_heads = py::ssize_t(group.heads.empty() ? 1 : group.heads.size());
    const std::vector<py::ssize_t> per_head_layer{n_configs, n_heads, depth};
    const std::vector<py::ssize_t> per_layer{n_configs, depth};
    const std::vector<py::ssize_t> per_head{n_configs, n_heads};
    carray<double> grad(per_head_layer), grad_rms(per_head_layer), weight_grad(per_head_layer);
    carray<double> q(per_layer), c(per_layer), saturated(per_layer), dead(per_layer);
    carray<std::int64_t> first_nonfinite(per_head);
    carray<std::int32_t> kind(per_head);
    py::dict result;
    result["log10_grad_norm"] = grad;
    result["log10_grad_norm_rms"] = grad_rms;
    result["log10_weight_grad_norm"] = weight_grad;
    result["q"] = q;
    result["c"] = c;
    result["saturated_fraction"] = saturated;
    result["dead_fraction"] = dead;
    result["first_nonfinite_layer"] = first_nonfinite;
    result["nonfinite_kind"] = kind;
    MlpOutputs out;
    out.log10_grad_norm = grad.mutable_data();
    out.log10_grad_norm_rms = grad_rms.mutable_data();
    out.log10_weight_grad_norm = weight_grad.mutable_data();
    out.q = q.mutable_data();
    out.c = c.mutable_data();
    out.saturated_fraction = saturated.mutable_data();
    out.dead_fraction = dead.mutable_data();
    out.first_nonfinite_layer = first_nonfinite.mutable_data();
    out.nonfinite_kind = kind.mutable_data();

    const bool f32 = is_float32(dtype);
    run_without_gil(std::move(progress), [&](const ProgressHook& hook) {
        return f32 ? run_mlp_group<float>(group, configs, out, hook)
                   : run_mlp_group<double>(group, configs, out, hook);
    });
    return result;
}

}  // namespace

void bind_mlp(py::module_& m) {
    py::class_<MlpGroup>(m, "MlpGroup")
        .def(py::init(&make_group), py::arg("seed"), py::arg("widths"), py::arg("batch"),
             py::arg("input_std"), py::arg("dist"), py::arg("norm_eps"),
             py::arg("checkpoint_every"), py::arg("store_budget_bytes"), py::arg("n_threads"),
             py::arg("heads") = std::vector<std::int64_t>{}, py::arg("loss") = 0,
             py::arg("channels") = 0, py::arg("height") = 0, py::arg("width") = 0,
             py::arg("kernel") = 3, py::arg("circular") = false,
             py::arg("delta_orthogonal") = false, py::arg("kernels") = std::vector<std::int64_t>{},
             py::arg("skip_span") = 1, py::arg("c2f_bottlenecks") = 0)
        .def_readonly("seed", &MlpGroup::seed)
        .def_readonly("widths", &MlpGroup::widths)
        .def_readonly("batch", &MlpGroup::batch)
        .def_readonly("heads", &MlpGroup::heads)
        .def_readonly("n_threads", &MlpGroup::n_threads);

    m.def(
        "plan_mlp_memory",
        [](const MlpGroup& g, std::int64_t n_configs, std::int64_t value_bytes, bool with_norm) {
            const MemoryPlan p = plan_mlp_memory(g, n_configs, value_bytes, with_norm);
            return py::make_tuple(p.checkpoint_every, p.bytes, p.keep_weights);
        },
        py::arg("group"), py::arg("n_configs"), py::arg("value_bytes"), py::arg("with_norm") = true,
        "(checkpoint_every, peak working bytes, keep_weights) the engine will use; with_norm:\n"
        "whether any configuration normalizes.");

    m.def("run_mlp_group", &run, py::arg("dtype"), py::arg("group"), py::arg("activation"),
          py::arg("activation_param"), py::arg("weight_scale"), py::arg("bias_scale"),
          py::arg("residual"), py::arg("alpha"), py::arg("norm"), py::arg("progress") = py::none(),
          "Run one group of configurations sharing random matrices; returns a dict of arrays:\n"
          "gradient arrays (configs, heads, depth), forward arrays (configs, depth),\n"
          "first_nonfinite_layer and nonfinite_kind (configs, heads).");
}

}  // namespace gradatlas::bindings
