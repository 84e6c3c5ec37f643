#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace gradatlas::bindings {
void bind_runtime(py::module_& m);
void bind_random(py::module_& m);
void bind_activations(py::module_& m);
void bind_mlp(py::module_& m);
void bind_recurrent(py::module_& m);
void bind_train(py::module_& m);
void bind_transformer(py::module_& m);
}  // namespace gradatlas::bindings

PYBIND11_MODULE(_core, m) {
    m.doc() = "gradatlas C++ core (private; use the gradatlas package)";
    using namespace gradatlas::bindings;
    bind_runtime(m);
    bind_random(m);
    bind_activations(m);
    bind_mlp(m);
    bind_recurrent(m);
    bind_train(m);
    bind_transformer(m);
}
