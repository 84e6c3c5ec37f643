// One build, run-time dispatch to wider vectors (GCC on x86-64 Linux). Only
// for loops whose arithmetic is the same IEEE operations in every clone (no
// FMA contraction: the core is built with -ffp-contract=off), so the bits are
// the same whichever clone runs. Internal to the core.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GRADATLAS_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define GRADATLAS_CLONES
#endif
