#include "common.hpp"
#include "gradatlas/train.hpp"

namespace gradatlas::bindings {
namespace {

py::dict train(const std::string& dtype, const std::vector<std::int64_t>& widths,
               std::uint64_t seed, std::int64_t batch, double input_std, int dist, int activation,
               double activation_param, const std::vector<double>& weight_scale,
               const std::vector<double>& bias_scale, bool residual, double alpha,
               std::int64_t steps, double lr, int optimizer, double momentum, double beta1,
               double beta2, double eps, int clip, double clip_threshold, int n_threads,
               py::object progress, const std::vector<double>& lr_scale, bool coordinates) {
    if (widths.size() < 2) throw py::value_error("widths must hold n_0..n_L with L >= 1");
    if (steps < 1 || batch < 1 || n_threads < 1)
        throw py::value_error("steps, batch and n_threads must be >= 1");
    if (dist < 0 || dist > int(WeightDist::orthogonal))
        throw py::value_error("weight distribution code must be 0, 1 or 2");
    if (activation < 0 || activation >= activation_count)
        throw py::value_error("activation code out of range");
    if (optimizer < 0 || optimizer > int(Optimizer::adam))
        throw py::value_error("optimizer code must be 0 (sgd), 1 (momentum) or 2 (adam)");
    if (clip < 0 || clip > int(ClipMode::value))
        throw py::value_error("clip code must be 0 (none), 1 (norm) or 2 (value)");
    const bool f32 = is_float32(dtype);
    TrainSetup s;
    s.seed = seed;
    s.widths = widths;
    s.batch = batch;
    s.input_std = input_std;
    s.dist = static_cast<WeightDist>(dist);
    s.activation = static_cast<Activation>(activation);
    s.activation_param = activation_param;
    s.weight_scale = weight_scale;
    s.bias_scale = bias_scale;
    s.residual = residual;
    s.alpha = alpha;
    s.steps = steps;
    s.lr = lr;
    s.optimizer = static_cast<Optimizer>(optimizer);
    s.momentum = momentum;
    s.beta1 = beta1;
    s.beta2 = beta2;
    s.eps = eps;
    s.clip = static_cast<ClipMode>(clip);
    s.clip_threshold = clip_threshold;
    s.n_threads = n_threads;
    if (!lr_scale.empty() && lr_scale.size() != widths.size() - 1)
        throw py::value_error("lr_scale needs one value per layer (or none)");
    s.lr_scale = lr_scale;

    const auto depth = py::ssize_t(widths.size()) - 1;
    carray<double> loss(steps), global(steps), grad({py::ssize_t(steps), depth}),
        ratio({py::ssize_t(steps), depth});
    carray<std::uint8_t> clipped(steps);
    std::int64_t first_nonfinite = -1;
    TrainOutputs out;
    out.loss = loss.mutable_data();
    out.log10_global_grad_norm = global.mutable_data();
    out.clipped = clipped.mutable_data();
    out.log10_grad_norm = grad.mutable_data();
    out.update_ratio = ratio.mutable_data();
    out.first_nonfinite_step = &first_nonfinite;
    // The coordinate check's arrays, when asked for.
    const std::vector<py::ssize_t> per_layer{coordinates ? py::ssize_t(steps) : 0, depth};
    carray<double> activation_size(per_layer), preactivation_size(per_layer),
        update_size(per_layer);
    if (coordinates) {
        out.activation_size = activation_size.mutable_data();
        out.preactivation_size = preactivation_size.mutable_data();
        out.update_size = update_size.mutable_data();
    }

    run_without_gil(std::move(progress), [&](const ProgressHook& hook) {
        return f32 ? train_mlp<float>(s, out, hook) : train_mlp<double>(s, out, hook);
    });
    py::dict result;
    result["loss"] = loss;
    result["log10_global_grad_norm"] = global;
    result["clipped"] = clipped;
    result["log10_grad_norm"] = grad;
    result["update_ratio"] = ratio;
    result["first_nonfinite_step"] = first_nonfinite;
    if (coordinates) {
        result["activation_size"] = activation_size;
        result["preactivation_size"] = preactivation_size;
        result["update_size"] = update_size;
    }
    return result;
}

template <typename T>
py::dict arrays(std::uint64_t seed, std::int64_t n_out, std::int64_t n_in, std::int64_t steps,
                std::int64_t batch) {
    carray<T> teacher({n_out, n_in}), inputs({steps, batch, n_in});
    training_teacher(seed, n_out, n_in, teacher.mutable_data());
    for (std::int64_t k = 1; k <= steps; ++k)
        training_inputs(seed, k, batch, n_in, inputs.mutable_data() + (k - 1) * batch * n_in);
    py::dict d;
    d["teacher"] = teacher;
    d["inputs"] = inputs;
    return d;
}

}  // namespace

void bind_train(py::module_& m) {
    m.def("train_mlp", &train, py::arg("dtype"), py::arg("widths"), py::arg("seed"),
          py::arg("batch"), py::arg("input_std"), py::arg("dist"), py::arg("activation"),
          py::arg("activation_param"), py::arg("weight_scale"), py::arg("bias_scale"),
          py::arg("residual"), py::arg("alpha"), py::arg("steps"), py::arg("lr"),
          py::arg("optimizer"), py::arg("momentum"), py::arg("beta1"), py::arg("beta2"),
          py::arg("eps"), py::arg("clip"), py::arg("clip_threshold"), py::arg("n_threads"),
          py::arg("progress") = py::none(), py::arg("lr_scale") = std::vector<double>{},
          py::arg("coordinates") = false,
          "Train a feed-forward network on the teacher-student task; returns a dict of arrays\n"
          "(with coordinates: the coordinate check's activation_size, preactivation_size and\n"
          "update_size, steps x layers).");
    m.def(
        "training_arrays",
        [](const std::string& dtype, std::uint64_t seed, std::int64_t n_out, std::int64_t n_in,
           std::int64_t steps, std::int64_t batch) {
            return is_float32(dtype) ? arrays<float>(seed, n_out, n_in, steps, batch)
                                     : arrays<double>(seed, n_out, n_in, steps, batch);
        },
        py::arg("dtype"), py::arg("seed"), py::arg("n_out"), py::arg("n_in"), py::arg("steps"),
        py::arg("batch"),
        "The standard teacher Z_T (n_out x n_in) and inputs xi (steps, B, n_in).");
}

}  // namespace gradatlas::bindings
