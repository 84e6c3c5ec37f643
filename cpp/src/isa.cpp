#include "isa.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace gradatlas::detail {
namespace {

Isa detect() {
#ifdef GRADATLAS_KERNEL_DISPATCH
    const bool fma = __builtin_cpu_supports("fma");
    if (fma && __builtin_cpu_supports("avx512f")) return Isa::avx512;
    if (fma && __builtin_cpu_supports("avx2")) return Isa::avx2;
#endif
    return Isa::generic;
}

Isa limited(Isa hardware) {
    const char* cap = std::getenv("GRADATLAS_MAX_ISA");
    if (!cap) return hardware;
    for (Isa limit : {Isa::generic, Isa::avx2, Isa::avx512})
        if (std::strcmp(cap, isa_name(limit)) == 0) return std::min(hardware, limit);
    return hardware;
}

}  // namespace

Isa kernel_isa() {
    static const Isa isa = limited(detect());
    return isa;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512:
            return "avx512";
        case Isa::avx2:
            return "avx2";
        case Isa::generic:
            break;
    }
    return "generic";
}

}  // namespace gradatlas::detail
