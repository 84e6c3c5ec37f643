#include "common.hpp"
#include "gradatlas/blas.hpp"
#include "gradatlas/det_gemm.hpp"
#include "gradatlas/enum_names.hpp"
#include "gradatlas/memory_pool.hpp"
#include "gradatlas/runtime.hpp"

namespace gradatlas::bindings {
namespace {

// C = A B^T (nt) or A B (nn) with the engines' deterministic products.
template <typename T>
py::array product(const carray<T>& a, const carray<T>& b, bool transpose_b, int n_threads) {
    if (a.ndim() != 2 || b.ndim() != 2) throw py::value_error("a and b must be 2-d");
    if (n_threads < 1) throw py::value_error("n_threads must be >= 1");
    const auto m = a.shape(0), k = a.shape(1);
    const auto n = transpose_b ? b.shape(0) : b.shape(1);
    if ((transpose_b ? b.shape(1) : b.shape(0)) != k)
        throw py::value_error("inner dimensions of a and b differ");
    carray<T> c({m, n});
    {
        py::gil_scoped_release nogil;
        if (transpose_b)
            detail::gemm_nt(m, n, k, a.data(), k, b.data(), b.shape(1), c.mutable_data(), n,
                            n_threads);
        else
            detail::gemm_nn(m, n, k, a.data(), k, b.data(), n, c.mutable_data(), n, n_threads);
    }
    return c;
}

}  // namespace

void bind_runtime(py::module_& m) {
    m.def("has_openmp", &gradatlas::has_openmp, "Whether the core was built with OpenMP.");
    m.def("max_threads", &gradatlas::max_threads,
          "OpenMP's maximum thread count (1 without OpenMP).");
    m.def("blas_config", &gradatlas::blas::config,
          "The OpenBLAS build string and the CPU core it dispatched to.");
    m.def(
        "det_gemm",
        [](py::array a, py::array b, bool transpose_b, int n_threads) -> py::array {
            if (py::isinstance<py::array_t<float>>(a) && a.dtype().is(py::dtype::of<float>()))
                return product<float>(a.cast<carray<float>>(), b.cast<carray<float>>(), transpose_b,
                                      n_threads);
            return product<double>(a.cast<carray<double>>(), b.cast<carray<double>>(), transpose_b,
                                   n_threads);
        },
        py::arg("a"), py::arg("b"), py::arg("transpose_b"), py::arg("n_threads") = 1,
        "The engines' deterministic product: a @ b.T (transpose_b) or a @ b, float32 when a is.");
    m.def("open_memory_pool", &gradatlas::open_memory_pool, py::arg("cap_bytes"),
          "Keep large buffers freed by finished groups for the next ones (nested opens count).");
    m.def("close_memory_pool", &gradatlas::close_memory_pool,
          "Close one open of the pool; the last close frees what it keeps.");
    m.def("memory_pool_bytes", &gradatlas::memory_pool_bytes, "Bytes the pool keeps unused.");
    m.def("enum_names", &gradatlas::enum_names,
          "The names of the core's enums, each in code order (the Python tables come from these).");
    m.def("kernel_isa", &gradatlas::kernel_isa,
          "The hand-dispatched kernels in use: 'avx512', 'avx2' or 'generic' (lowered by the\n"
          "environment variable GRADATLAS_MAX_ISA, read once).");
}

}  // namespace gradatlas::bindings
