#include "common.hpp"
#include "gradatlas/blas.hpp"
#include "gradatlas/runtime.hpp"

namespace gradatlas::bindings {

void bind_runtime(py::module_& m) {
    m.def("has_openmp", &gradatlas::has_openmp, "Whether the core was built with OpenMP.");
    m.def("max_threads", &gradatlas::max_threads,
          "OpenMP's maximum thread count (1 without OpenMP).");
    m.def("blas_config", &gradatlas::blas::config,
          "The OpenBLAS build string and the CPU core it dispatched to.");
}

}  // namespace gradatlas::bindings
