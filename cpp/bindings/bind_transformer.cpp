#include "common.hpp"
#include "gradatlas/transformer.hpp"

namespace gradatlas::bindings {
namespace {

TransformerGroup make_group(std::uint64_t seed, std::int64_t blocks, std::int64_t width,
                            std::int64_t heads, std::int64_t seq_len, std::int64_t mlp_width,
                            bool attention, std::int64_t batch, int loss, double norm_eps,
                            std::int64_t checkpoint_every, std::int64_t store_budget_bytes,
                            int n_threads) {
    if (loss != int(Loss::projection) && loss != int(Loss::sum_squares))
        throw py::value_error("loss code must be 0 (projection) or 1 (sum_squares)");
    if (blocks < 1 || width < 1 || heads < 1 || seq_len < 1 || mlp_width < 1 || batch < 1 ||
        n_threads < 1)
        throw py::value_error(
            "blocks, width, heads, seq_len, mlp_width, batch and n_threads must be >= 1");
    if (width % heads != 0) throw py::value_error("heads must divide width");
    if (!(norm_eps > 0)) throw py::value_error("norm_eps must be > 0");
    TransformerGroup g;
    g.seed = seed;
    g.blocks = blocks;
    g.width = width;
    g.heads = heads;
    g.seq_len = seq_len;
    g.mlp_width = mlp_width;
    g.attention = attention;
    g.batch = batch;
    g.loss = static_cast<Loss>(loss);
    g.norm_eps = norm_eps;
    g.checkpoint_every = checkpoint_every;
    g.store_budget_bytes = store_budget_bytes;
    g.n_threads = n_threads;
    return g;
}

py::dict run(const std::string& dtype, const TransformerGroup& group, const carray<int>& activation,
             const carray<double>& activation_param, const carray<bool>& pre_norm,
             const carray<bool>& post_norm, const carray<bool>& rms_norm,
             const carray<bool>& causal, const carray<double>& skip_scale,
             const carray<double>& alpha, const carray<double>& weight_scale,
             const carray<double>& bias_scale, const carray<double>& input_std,
             py::object progress) {
    const py::ssize_t n = activation.shape(0);
    for (const py::array* a : std::initializer_list<const py::array*>{
             &activation_param, &pre_norm, &post_norm, &rms_norm, &causal, &skip_scale, &alpha,
             &bias_scale, &input_std})
        if (a->ndim() != 1 || a->shape(0) != n)
            throw py::value_error("per-config arrays must be 1-d and of equal length");
    if (weight_scale.ndim() != 2 || weight_scale.shape(0) != n ||
        weight_scale.shape(1) != projection_count)
        throw py::value_error("weight_scale must be (configs, 6): one scale per projection");
    std::vector<TransformerConfig> configs(static_cast<std::size_t>(n));
    for (py::ssize_t c = 0; c < n; ++c) {
        TransformerConfig& cfg = configs[static_cast<std::size_t>(c)];
        if (activation.at(c) < 0 || activation.at(c) >= activation_count)
            throw py::value_error("activation code out of range");
        cfg.activation = static_cast<Activation>(activation.at(c));
        cfg.activation_param = activation_param.at(c);
        cfg.pre_norm = pre_norm.at(c);
        cfg.post_norm = post_norm.at(c);
        cfg.rms_norm = rms_norm.at(c);
        cfg.causal = causal.at(c);
        cfg.skip_scale = skip_scale.at(c);
        cfg.alpha = alpha.at(c);
        for (int j = 0; j < projection_count; ++j) cfg.weight_scale[j] = weight_scale.at(c, j);
        cfg.bias_scale = bias_scale.at(c);
        cfg.input_std = input_std.at(c);
    }
    const bool f32 = is_float32(dtype);
    const py::ssize_t positions = py::ssize_t(group.sublayers()) + 1;
    const std::vector<py::ssize_t> per{n, positions};
    carray<double> grad(per), grad_rms(per), q(per), cosine(per), entropy(per);
    carray<double> weight_grad({n, positions, py::ssize_t(projection_count)});
    carray<std::int64_t> first_nonfinite(n);
    carray<std::int32_t> kind(n);
    py::dict result;
    result["log10_grad_norm"] = grad;
    result["log10_grad_norm_rms"] = grad_rms;
    result["log10_weight_grad_norm"] = weight_grad;
    result["q"] = q;
    result["token_cosine"] = cosine;
    result["attention_entropy"] = entropy;
    result["first_nonfinite_sublayer"] = first_nonfinite;
    result["nonfinite_kind"] = kind;
    TransformerOutputs out;
    out.log10_grad_norm = grad.mutable_data();
    out.log10_grad_norm_rms = grad_rms.mutable_data();
    out.log10_weight_grad_norm = weight_grad.mutable_data();
    out.q = q.mutable_data();
    out.token_cosine = cosine.mutable_data();
    out.attention_entropy = entropy.mutable_data();
    out.first_nonfinite_sublayer = first_nonfinite.mutable_data();
    out.nonfinite_kind = kind.mutable_data();
    run_without_gil(std::move(progress), [&](const ProgressHook& hook) {
        return f32 ? run_transformer_group<float>(group, configs, out, hook)
                   : run_transformer_group<double>(group, configs, out, hook);
    });
    return result;
}

template <typename T>
py::dict standard_arrays(const TransformerGroup& g) {
    const py::ssize_t b = g.batch, t = g.seq_len, d = g.width, m = g.mlp_width;
    carray<T> xi({b, t, d}), u({b, t, d});
    transformer_inputs(g, xi.mutable_data());
    transformer_projections(g, u.mutable_data());
    py::list sublayers;
    for (std::int64_t p = 1; p <= g.sublayers(); ++p) {
        carray<T> w(transformer_weight_count(g, p)), bias(transformer_bias_count(g, p));
        transformer_weights(g, p, w.mutable_data());
        transformer_biases(g, p, bias.mutable_data());
        py::dict s;
        if (g.is_attention(p)) {
            s["z_qkv"] = w[py::slice(0, 3 * d * d, 1)].attr("reshape")(3 * d, d);
            s["z_o"] = w[py::slice(3 * d * d, 4 * d * d, 1)].attr("reshape")(d, d);
            s["b_qkv"] = bias[py::slice(0, 3 * d, 1)];
            s["b_o"] = bias[py::slice(3 * d, 4 * d, 1)];
        } else {
            s["z_1"] = w[py::slice(0, m * d, 1)].attr("reshape")(m, d);
            s["z_2"] = w[py::slice(m * d, 2 * m * d, 1)].attr("reshape")(d, m);
            s["b_1"] = bias[py::slice(0, m, 1)];
            s["b_2"] = bias[py::slice(m, m + d, 1)];
        }
        sublayers.append(s);
    }
    py::dict out;
    out["xi"] = xi;
    out["projections"] = u;
    out["sublayers"] = sublayers;
    return out;
}

}  // namespace

void bind_transformer(py::module_& m) {
    py::class_<TransformerGroup>(m, "TransformerGroup")
        .def(py::init(&make_group), py::arg("seed"), py::arg("blocks"), py::arg("width"),
             py::arg("heads"), py::arg("seq_len"), py::arg("mlp_width"), py::arg("attention"),
             py::arg("batch"), py::arg("loss"), py::arg("norm_eps"), py::arg("checkpoint_every"),
             py::arg("store_budget_bytes"), py::arg("n_threads"))
        .def_readonly("seed", &TransformerGroup::seed)
        .def_readonly("blocks", &TransformerGroup::blocks)
        .def_readonly("width", &TransformerGroup::width)
        .def_readonly("batch", &TransformerGroup::batch)
        .def_readonly("n_threads", &TransformerGroup::n_threads);

    m.def(
        "plan_transformer_memory",
        [](const TransformerGroup& g, std::int64_t n_configs, std::int64_t value_bytes) {
            const MemoryPlan p = plan_transformer_memory(g, n_configs, value_bytes);
            return py::make_tuple(p.checkpoint_every, p.bytes);
        },
        py::arg("group"), py::arg("n_configs"), py::arg("value_bytes"),
        "(checkpoint_every, peak working bytes) the transformer engine will use.");

    m.def("run_transformer_group", &run, py::arg("dtype"), py::arg("group"), py::arg("activation"),
          py::arg("activation_param"), py::arg("pre_norm"), py::arg("post_norm"),
          py::arg("rms_norm"), py::arg("causal"), py::arg("skip_scale"), py::arg("alpha"),
          py::arg("weight_scale"), py::arg("bias_scale"), py::arg("input_std"),
          py::arg("progress") = py::none(),
          "Run one group of transformer configurations sharing random matrices; returns a dict:\n"
          "per-position arrays (configs, sublayers + 1), log10_weight_grad_norm (configs,\n"
          "sublayers + 1, 6), first_nonfinite_sublayer and nonfinite_kind (configs).");

    m.def(
        "transformer_standard_arrays",
        [](const std::string& dtype, const TransformerGroup& g) {
            return is_float32(dtype) ? standard_arrays<float>(g) : standard_arrays<double>(g);
        },
        py::arg("dtype"), py::arg("group"),
        "The standard arrays of a transformer group: xi and projections (B, T, d), and per\n"
        "sublayer a dict (attention: z_qkv, z_o, b_qkv, b_o; MLP: z_1, z_2, b_1, b_2).");
}

}  // namespace gradatlas::bindings
