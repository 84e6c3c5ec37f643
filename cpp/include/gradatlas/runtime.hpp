// Build and threading facts the bindings expose.
#pragma once

namespace gradatlas {

bool has_openmp();
int max_threads();
// The hand-dispatched kernels in use: "avx512", "avx2" or "generic".
const char* kernel_isa();

}  // namespace gradatlas
