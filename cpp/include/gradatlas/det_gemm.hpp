// Deterministic matrix products for the engines.
//
// Every element of C is one fixed sequence of operations: c_ij = sum_p a_ip b_pj
// accumulated in order of p: as fused multiply-adds on x86-64 CPUs with FMA
// (AVX2, AVX-512) in optimized GCC builds, and as a multiplication and an
// addition elsewhere (other CPUs and compilers, -O0 builds). It does not depend on the shape of the
// call, the blocking, the thread count or the vector width, so a configuration's numbers do not
// depend on the group it runs in, and they are the same on every x86-64 machine with FMA (and,
// separately, on every machine without).
#pragma once

#include <cstdint>

namespace gradatlas::detail {

// C (m x n) = A (m x k) B^T, with B (n x k) row-major, through gemm_nn and a
// transposed copy of B (or of A, when that is smaller). Same bits either way.
template <typename T>
void gemm_nt(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
             const T* b, std::int64_t ldb, T* c, std::int64_t ldc, int n_threads);

// C (m x n) = A (m x k) B, with B (k x n) row-major.
void gemm_nn(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
             const float* b, std::int64_t ldb, float* c, std::int64_t ldc, int n_threads);
void gemm_nn(std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
             const double* b, std::int64_t ldb, double* c, std::int64_t ldc, int n_threads);

// out (cols x rows) = b^T for b (rows x cols) row-major: turns a product with
// B^T into the gemm_nn form (its per-element order is a plain sum over k).
template <typename T>
void transpose(const T* b, std::int64_t rows, std::int64_t cols, T* out, int n_threads = 1);

}  // namespace gradatlas::detail
