#include "gradatlas/blas.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

// LAPACK from the same library; declared here because the wheel's lapack.h
// does not apply the scipy_ prefix.
extern "C" {
void scipy_dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work,
                   const int* lwork, int* info);
void scipy_dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda,
                   const double* tau, double* work, const int* lwork, int* info);
}

namespace gradatlas::blas {
namespace {

blasint to_blasint(std::int64_t v, const char* what) {
    if (v < 0 || v > std::numeric_limits<blasint>::max())
        throw std::length_error(std::string("BLAS dimension ") + what + " = " + std::to_string(v) +
                                " does not fit a 32-bit BLAS integer");
    return static_cast<blasint>(v);
}

}  // namespace

void orthonormalize(double* a, std::int64_t rows, std::int64_t cols) {
    // Row-major (rows x cols) is column-major (cols x rows) = A^T. When
    // rows <= cols, A^T is tall: its QR gives orthonormal columns of A^T, that
    // is orthonormal rows of A. Otherwise transpose to make A itself tall.
    const bool rows_orthonormal = rows <= cols;
    const std::int64_t m64 = rows_orthonormal ? cols : rows;  // tall dimension
    const std::int64_t n64 = rows_orthonormal ? rows : cols;
    std::vector<double> tall(static_cast<std::size_t>(m64 * n64));
    // tall is column-major (m x n).
    for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j) {
            const double v = a[i * cols + j];
            if (rows_orthonormal)
                tall[static_cast<std::size_t>(i * m64 + j)] = v;
            else
                tall[static_cast<std::size_t>(j * m64 + i)] = v;
        }
    const int m = to_blasint(m64, "rows"), n = to_blasint(n64, "cols");
    std::vector<double> tau(static_cast<std::size_t>(n));
    int info = 0, lwork = -1;
    double query = 0;
    scipy_dgeqrf_(&m, &n, tall.data(), &m, tau.data(), &query, &lwork, &info);
    lwork = static_cast<int>(query);
    std::vector<double> work(static_cast<std::size_t>(std::max(1, lwork)));
    scipy_dgeqrf_(&m, &n, tall.data(), &m, tau.data(), work.data(), &lwork, &info);
    if (info != 0) throw std::runtime_error("dgeqrf failed, info=" + std::to_string(info));
    std::vector<double> sign(static_cast<std::size_t>(n));
    for (int j = 0; j < n; ++j)
        sign[static_cast<std::size_t>(j)] =
            tall[static_cast<std::size_t>(j) * (static_cast<std::size_t>(m) + 1)] < 0 ? -1.0 : 1.0;
    lwork = -1;
    scipy_dorgqr_(&m, &n, &n, tall.data(), &m, tau.data(), &query, &lwork, &info);
    lwork = static_cast<int>(query);
    work.assign(static_cast<std::size_t>(std::max(1, lwork)), 0.0);
    scipy_dorgqr_(&m, &n, &n, tall.data(), &m, tau.data(), work.data(), &lwork, &info);
    if (info != 0) throw std::runtime_error("dorgqr failed, info=" + std::to_string(info));
    for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j) {
            // column index of Q (tall) is the short dimension
            const std::int64_t col = rows_orthonormal ? i : j;
            const std::int64_t row = rows_orthonormal ? j : i;
            a[i * cols + j] = tall[static_cast<std::size_t>(col * m64 + row)] *
                              sign[static_cast<std::size_t>(col)];
        }
}

void set_num_threads(int n) {
    scipy_openblas_set_num_threads(n);
}
int get_num_threads() {
    return scipy_openblas_get_num_threads();
}
std::string config() {
    return std::string(scipy_openblas_get_config()) + " core=" + scipy_openblas_get_corename();
}

}  // namespace gradatlas::blas
