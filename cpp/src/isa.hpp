// Which of the core's hand-dispatched kernels run (the Philox rounds, the
// products, the Gram matrices). Internal to the core.
#pragma once

// Builds that carry the AVX2 and AVX-512 variants: GCC on x86-64, optimized
// (the products' and Gram matrices' FMA variants rely on contraction, which
// needs optimization; -O0 builds run the generic code everywhere).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__OPTIMIZE__)
#define GRADATLAS_KERNEL_DISPATCH 1
#include <immintrin.h>
#endif

namespace gradatlas::detail {

enum class Isa : int {
    generic = 0,  // portable code; products and Gram matrices unfused
    avx2 = 1,     // AVX2 with FMA
    avx512 = 2,   // AVX-512F with FMA
};

// What the CPU offers (x86-64, optimized GCC builds; generic elsewhere),
// lowered by the environment variable GRADATLAS_MAX_ISA = generic | avx2 |
// avx512 when set (read once; other values are ignored): it lets the tests run
// the paths a machine would not pick on its own.
Isa kernel_isa();

const char* isa_name(Isa isa);

}  // namespace gradatlas::detail
