#include "common.hpp"
#include "gradatlas/init.hpp"
#include "gradatlas/rng.hpp"

namespace gradatlas::bindings {
namespace {

template <typename T>
py::array weights(std::uint64_t seed, int dist, std::uint32_t layer, std::int64_t n_out,
                  std::int64_t n_in) {
    carray<T> out({n_out, n_in});
    standard_weights(seed, static_cast<WeightDist>(dist), layer, n_out, n_in, out.mutable_data());
    return out;
}

template <typename T>
py::array biases(std::uint64_t seed, std::uint32_t layer, std::int64_t n_out) {
    carray<T> out(n_out);
    standard_biases(seed, layer, n_out, out.mutable_data());
    return out;
}

template <typename T>
py::array inputs(std::uint64_t seed, std::int64_t batch, std::int64_t n_in, double input_std) {
    carray<T> out({batch, n_in});
    standard_inputs(seed, batch, n_in, input_std, out.mutable_data());
    return out;
}

template <typename T>
py::array projections(std::uint64_t seed, std::int64_t batch, std::int64_t n_out) {
    carray<T> out({batch, n_out});
    standard_projections(seed, batch, n_out, out.mutable_data());
    return out;
}

}  // namespace

void bind_random(py::module_& m) {
    m.def(
        "philox4x32_10",
        [](std::array<std::uint32_t, 4> counter, std::uint32_t k0, std::uint32_t k1) {
            return philox4x32_10(counter, k0, k1);
        },
        py::arg("counter"), py::arg("k0"), py::arg("k1"));
    m.def(
        "standard_normal",
        [](std::uint64_t seed, std::uint32_t stream, std::uint32_t layer, std::uint64_t first,
           std::int64_t count) {
            carray<double> out(count);
            fill_normal(seed, static_cast<Stream>(stream), layer, first, std::size_t(count),
                        out.mutable_data());
            return out;
        },
        py::arg("seed"), py::arg("stream"), py::arg("layer"), py::arg("first"), py::arg("count"));
    m.def(
        "standard_weights",
        [](const std::string& dtype, std::uint64_t seed, int dist, std::uint32_t layer,
           std::int64_t n_out, std::int64_t n_in) {
            return is_float32(dtype) ? weights<float>(seed, dist, layer, n_out, n_in)
                                     : weights<double>(seed, dist, layer, n_out, n_in);
        },
        py::arg("dtype"), py::arg("seed"), py::arg("dist"), py::arg("layer"), py::arg("n_out"),
        py::arg("n_in"));
    m.def(
        "standard_biases",
        [](const std::string& dtype, std::uint64_t seed, std::uint32_t layer, std::int64_t n_out) {
            return is_float32(dtype) ? biases<float>(seed, layer, n_out)
                                     : biases<double>(seed, layer, n_out);
        },
        py::arg("dtype"), py::arg("seed"), py::arg("layer"), py::arg("n_out"));
    m.def(
        "standard_inputs",
        [](const std::string& dtype, std::uint64_t seed, std::int64_t batch, std::int64_t n_in,
           double input_std) {
            return is_float32(dtype) ? inputs<float>(seed, batch, n_in, input_std)
                                     : inputs<double>(seed, batch, n_in, input_std);
        },
        py::arg("dtype"), py::arg("seed"), py::arg("batch"), py::arg("n_in"), py::arg("input_std"));
    m.def(
        "standard_projections",
        [](const std::string& dtype, std::uint64_t seed, std::int64_t batch, std::int64_t n_out) {
            return is_float32(dtype) ? projections<float>(seed, batch, n_out)
                                     : projections<double>(seed, batch, n_out);
        },
        py::arg("dtype"), py::arg("seed"), py::arg("batch"), py::arg("n_out"));
}

}  // namespace gradatlas::bindings
