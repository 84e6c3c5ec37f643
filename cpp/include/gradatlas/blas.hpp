// Thin typed wrappers over the scipy-openblas32 BLAS/LAPACK (symbols prefixed
// scipy_). Matrices are row-major.
#pragma once

#include <cstdint>
#include <string>

namespace gradatlas::blas {

// Orthonormalize a row-major (rows x cols) Gaussian matrix in place, in double:
// Q from the QR of the taller orientation with signs fixed by diag(R) (Mezzadri,
// "How to generate random matrices from the classical compact groups", 2007),
// so that Q is Haar distributed. Rows are orthonormal when rows <= cols,
// columns otherwise.
void orthonormalize(double* a, std::int64_t rows, std::int64_t cols);

void set_num_threads(int n);
int get_num_threads();
std::string config();

}  // namespace gradatlas::blas
