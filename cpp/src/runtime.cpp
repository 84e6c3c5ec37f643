#include "gradatlas/runtime.hpp"

#include "isa.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gradatlas {

bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char* kernel_isa() {
    return detail::isa_name(detail::kernel_isa());
}

}  // namespace gradatlas
