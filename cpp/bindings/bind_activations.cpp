#include "common.hpp"
#include "gradatlas/activations.hpp"

namespace gradatlas::bindings {

namespace {

// (phi(h), phi'(h)) with the core's code path for T.
template <typename T>
py::tuple activation_pair(int code, double param, const carray<T>& h) {
    if (code < 0 || code >= activation_count)
        throw py::value_error("activation code out of range: " + std::to_string(code));
    carray<T> phi(h.request().shape), dphi(h.request().shape);
    apply_activation(static_cast<Activation>(code), param, h.data(), phi.mutable_data(),
                     dphi.mutable_data(), std::size_t(h.size()));
    return py::make_tuple(phi, dphi);
}

}  // namespace

void bind_activations(py::module_& m) {
    m.attr("activation_count") = activation_count;
    m.def("apply_activation", &activation_pair<double>, py::arg("code"), py::arg("param"),
          py::arg("h"), "(phi(h), phi'(h)) in float64 for an activation code.");
    m.def("apply_activation_float32", &activation_pair<float>, py::arg("code"), py::arg("param"),
          py::arg("h"),
          "(phi(h), phi'(h)) with the float32 code path the engine uses for float32 runs.");
}

}  // namespace gradatlas::bindings
