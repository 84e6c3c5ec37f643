// Build and threading facts the bindings expose.
#pragma once

namespace gradatlas {

bool has_openmp();
int max_threads();

}  // namespace gradatlas
