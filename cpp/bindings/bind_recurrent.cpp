#include "common.hpp"
#include "gradatlas/recurrent.hpp"

namespace gradatlas::bindings {
namespace {

RecurrentGroup make_group(std::uint64_t seed, int cell, int dist, std::int64_t width,
                          std::int64_t input_width, std::int64_t steps, std::int64_t batch,
                          int loss, std::int64_t checkpoint_every, std::int64_t store_budget_bytes,
                          int n_threads) {
    if (cell < 0 || cell > int(Cell::gru))
        throw py::value_error("cell code must be 0 (rnn), 1 (lstm) or 2 (gru)");
    if (dist < 0 || dist > int(RecurrentDist::identity))
        throw py::value_error("recurrent weight distribution code must be 0..3");
    if (loss != int(Loss::projection) && loss != int(Loss::sum_squares))
        throw py::value_error("loss code must be 0 (projection) or 1 (sum_squares)");
    if (width < 1 || input_width < 1 || steps < 1 || batch < 1 || n_threads < 1)
        throw py::value_error("width, input_width, steps, batch and n_threads must be >= 1");
    RecurrentGroup g;
    g.seed = seed;
    g.cell = static_cast<Cell>(cell);
    g.dist = static_cast<RecurrentDist>(dist);
    g.width = width;
    g.input_width = input_width;
    g.steps = steps;
    g.batch = batch;
    g.loss = static_cast<Loss>(loss);
    g.checkpoint_every = checkpoint_every;
    g.store_budget_bytes = store_budget_bytes;
    g.n_threads = n_threads;
    return g;
}

py::dict run(const std::string& dtype, const RecurrentGroup& group, const carray<int>& activation,
             const carray<double>& activation_param, const carray<double>& weight_scale,
             const carray<double>& input_scale, const carray<double>& bias_scale,
             const carray<double>& forget_bias, const carray<double>& h0_scale,
             const carray<bool>& loss_every_step, py::object progress) {
    const py::ssize_t n_configs = activation.shape(0);
    for (const py::array* a : std::initializer_list<const py::array*>{
             &activation_param, &weight_scale, &input_scale, &bias_scale, &forget_bias, &h0_scale,
             &loss_every_step})
        if (a->ndim() != 1 || a->shape(0) != n_configs)
            throw py::value_error("per-config arrays must be 1-d and of equal length");
    std::vector<RecurrentConfig> configs(static_cast<std::size_t>(n_configs));
    for (py::ssize_t c = 0; c < n_configs; ++c) {
        RecurrentConfig& cfg = configs[static_cast<std::size_t>(c)];
        if (activation.at(c) < 0 || activation.at(c) >= activation_count)
            throw py::value_error("activation code out of range");
        cfg.activation = static_cast<Activation>(activation.at(c));
        cfg.activation_param = activation_param.at(c);
        cfg.weight_scale = weight_scale.at(c);
        cfg.input_scale = input_scale.at(c);
        cfg.bias_scale = bias_scale.at(c);
        cfg.forget_bias = forget_bias.at(c);
        cfg.h0_scale = h0_scale.at(c);
        cfg.loss_every_step = loss_every_step.at(c);
    }
    const bool f32 = is_float32(dtype);

    const std::vector<py::ssize_t> per_step{n_configs, py::ssize_t(group.steps) + 1};
    carray<double> grad(per_step), grad_rms(per_step), cell_grad(per_step), q(per_step),
        saturated(per_step);
    carray<std::int64_t> first_nonfinite(n_configs);
    carray<std::int32_t> kind(n_configs);
    py::dict result;
    result["log10_grad_norm"] = grad;
    result["log10_grad_norm_rms"] = grad_rms;
    result["log10_cell_grad_norm"] = cell_grad;
    result["q"] = q;
    result["saturated_fraction"] = saturated;
    result["first_nonfinite_step"] = first_nonfinite;
    result["nonfinite_kind"] = kind;
    RecurrentOutputs out;
    out.log10_grad_norm = grad.mutable_data();
    out.log10_grad_norm_rms = grad_rms.mutable_data();
    out.log10_cell_grad_norm = cell_grad.mutable_data();
    out.q = q.mutable_data();
    out.saturated_fraction = saturated.mutable_data();
    out.first_nonfinite_step = first_nonfinite.mutable_data();
    out.nonfinite_kind = kind.mutable_data();

    run_without_gil(std::move(progress), [&](const ProgressHook& hook) {
        return f32 ? run_recurrent_group<float>(group, configs, out, hook)
                   : run_recurrent_group<double>(group, configs, out, hook);
    });
    return result;
}

template <typename T>
py::dict standard_arrays(const RecurrentGroup& g) {
    const std::int64_t gn = gate_count(g.cell) * g.width;
    carray<T> z_hh({gn, g.width}), z_ih({gn, g.input_width}), z_b(gn);
    carray<T> xi({g.steps, g.batch, g.input_width}), u({g.steps, g.batch, g.width});
    carray<T> z_h({g.batch, g.width}), z_c({g.batch, g.width});
    recurrent_hidden_weights(g.seed, g.cell, g.dist, g.width, z_hh.mutable_data());
    recurrent_input_weights(g.seed, g.cell, g.width, g.input_width, z_ih.mutable_data());
    recurrent_biases(g.seed, g.cell, g.width, z_b.mutable_data());
    for (std::int64_t t = 1; t <= g.steps; ++t) {
        recurrent_inputs(g.seed, t, g.batch, g.input_width,
                         xi.mutable_data() + (t - 1) * g.batch * g.input_width);
        recurrent_projections(g.seed, t, g.batch, g.width,
                              u.mutable_data() + (t - 1) * g.batch * g.width);
    }
    recurrent_initial_state(g.seed, 0, g.batch, g.width, z_h.mutable_data());
    recurrent_initial_state(g.seed, 1, g.batch, g.width, z_c.mutable_data());
    py::dict d;
    d["z_hh"] = z_hh;
    d["z_ih"] = z_ih;
    d["z_b"] = z_b;
    d["xi"] = xi;
    d["projections"] = u;
    d["z_h0"] = z_h;
    d["z_c0"] = z_c;
    return d;
}

}  // namespace

void bind_recurrent(py::module_& m) {
    py::class_<RecurrentGroup>(m, "RecurrentGroup")
        .def(py::init(&make_group), py::arg("seed"), py::arg("cell"), py::arg("dist"),
             py::arg("width"), py::arg("input_width"), py::arg("steps"), py::arg("batch"),
             py::arg("loss"), py::arg("checkpoint_every"), py::arg("store_budget_bytes"),
             py::arg("n_threads"))
        .def_readonly("seed", &RecurrentGroup::seed)
        .def_readonly("width", &RecurrentGroup::width)
        .def_readonly("steps", &RecurrentGroup::steps)
        .def_readonly("batch", &RecurrentGroup::batch)
        .def_readonly("n_threads", &RecurrentGroup::n_threads);

    m.def(
        "plan_recurrent_memory",
        [](const RecurrentGroup& g, std::int64_t n_configs, std::int64_t value_bytes) {
            const MemoryPlan p = plan_recurrent_memory(g, n_configs, value_bytes);
            return py::make_tuple(p.checkpoint_every, p.bytes);
        },
        py::arg("group"), py::arg("n_configs"), py::arg("value_bytes"),
        "(checkpoint_every, peak working bytes) the recurrent engine will use.");

    m.def(
        "gate_count", [](int cell) { return gate_count(static_cast<Cell>(cell)); }, py::arg("cell"),
        "The number of gates G of a cell (its rows of W_hh are G n).");

    m.def("run_recurrent_group", &run, py::arg("dtype"), py::arg("group"), py::arg("activation"),
          py::arg("activation_param"), py::arg("weight_scale"), py::arg("input_scale"),
          py::arg("bias_scale"), py::arg("forget_bias"), py::arg("h0_scale"),
          py::arg("loss_every_step"), py::arg("progress") = py::none(),
          "Run one group of recurrent configurations sharing random matrices; returns a dict:\n"
          "per-step arrays (configs, steps + 1), first_nonfinite_step and nonfinite_kind "
          "(configs).");

    m.def(
        "recurrent_standard_arrays",
        [](const std::string& dtype, const RecurrentGroup& g) {
            return is_float32(dtype) ? standard_arrays<float>(g) : standard_arrays<double>(g);
        },
        py::arg("dtype"), py::arg("group"),
        "The standard arrays of a recurrent group: z_hh, z_ih, z_b, xi (T, B, n_in),\n"
        "projections (T, B, n), z_h0, z_c0.");
}

}  // namespace gradatlas::bindings
