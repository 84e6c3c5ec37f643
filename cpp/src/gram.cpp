// Gram matrices of a block of rows, in float64, in register tiles.
//
// Like the products (det_gemm.cpp), each entry is one chain of operations over
// the row in a fixed order (8 partial sums, lane j holding elements j mod 8,
// combined pairwise), fused multiply-adds where the CPU has FMA (x86-64 AVX2 or
// AVX-512, optimized GCC builds: this file is compiled with -ffp-contract=fast
// there and the scalar tails call std::fma) and unfused elsewhere; the tiling
// and the vector width never change an entry's chain.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "buffer.hpp"
#include "isa.hpp"
#include "log_space.hpp"

namespace gradatlas::detail {
namespace {

#define GRADATLAS_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 8;
typedef double Lanes __attribute__((vector_size(kLanes * sizeof(double))));
typedef float FloatLanes __attribute__((vector_size(kLanes * sizeof(float))));

GRADATLAS_INLINE Lanes load_lanes(const double* p) {
    Lanes v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
GRADATLAS_INLINE Lanes load_lanes(const float* p) {
    FloatLanes v;
    std::memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, Lanes);
}

template <bool Fused>
GRADATLAS_INLINE double multiply_add(double a, double b, double c) {
    if constexpr (Fused)
        return std::fma(a, b, c);
    else
        return c + a * b;
}

// The dot products of rows a[0..P) with rows b[0..Q), each loaded vector used
// P or Q times (the accumulators, as vectors, stay in registers).
template <int P, int Q, bool Fused, typename T>
GRADATLAS_INLINE void dot_tile(const T* a, const T* b, std::int64_t n, double (&out)[P][Q]) {
    Lanes acc[P][Q];
    for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) acc[p][q] = Lanes{};
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        Lanes va[P], vb[Q];
        for (int p = 0; p < P; ++p) va[p] = load_lanes(a + p * n + i);
        for (int q = 0; q < Q; ++q) vb[q] = load_lanes(b + q * n + i);
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < Q; ++q) acc[p][q] = acc[p][q] + va[p] * vb[q];
    }
    for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
            double l[kLanes];
            std::memcpy(l, &acc[p][q], sizeof l);
            double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
            for (std::int64_t t = i; t < n; ++t)
                s = multiply_add<Fused>(double(a[p * n + t]), double(b[q * n + t]), s);
            out[p][q] = s;
        }
}

template <int P, int Q, bool Fused, typename T>
GRADATLAS_INLINE void gram_tiles(const T* x, std::int64_t m, std::int64_t n, double* g) {
    static_assert(P == Q, "square tiles");
    const std::int64_t tiled = m - m % P;
    for (std::int64_t a = 0; a < tiled; a += P)
        for (std::int64_t b = a; b < tiled; b += Q) {
            double t[P][Q];
            dot_tile<P, Q, Fused>(x + a * n, x + b * n, n, t);
            for (int p = 0; p < P; ++p)
                for (int q = 0; q < Q; ++q) {
                    g[(a + p) * m + (b + q)] = t[p][q];
                    g[(b + q) * m + (a + p)] = t[p][q];
                }
        }
    for (std::int64_t a = 0; a < m; ++a)  // the rows past the last whole tile
        for (std::int64_t b = std::max(a, tiled); b < m; ++b) {
            double t[1][1];
            dot_tile<1, 1, Fused>(x + a * n, x + b * n, n, t);
            g[a * m + b] = t[0][0];
            g[b * m + a] = t[0][0];
        }
}

// Only serial loops in the ISA variants (see det_gemm.cpp). AVX-512 keeps a
// 4 x 4 tile of accumulators in registers; AVX2 (a vector is two registers) 2 x 2.
#ifdef GRADATLAS_KERNEL_DISPATCH
template <typename T>
__attribute__((target("avx512f,fma"))) void gram_avx512(const T* x, std::int64_t m, std::int64_t n,
                                                        double* g) {
    gram_tiles<4, 4, true>(x, m, n, g);
}
template <typename T>
__attribute__((target("avx2,fma"))) void gram_avx2(const T* x, std::int64_t m, std::int64_t n,
                                                   double* g) {
    gram_tiles<2, 2, true>(x, m, n, g);
}
#endif

template <typename T>
void gram_dispatch(const T* x, std::int64_t m, std::int64_t n, double* g) {
#ifdef GRADATLAS_KERNEL_DISPATCH
    const Isa isa = kernel_isa();
    if (isa == Isa::avx512) return gram_avx512(x, m, n, g);
    if (isa == Isa::avx2) return gram_avx2(x, m, n, g);
#endif
    gram_tiles<4, 4, false>(x, m, n, g);
}

}  // namespace

// float rows are widened to double once (exactly) rather than in every tile:
// the conversions shared the FMA units' port and were a third of the work.
void gram(const float* x, std::int64_t m, std::int64_t n, double* g) {
    thread_local std::vector<double> wide;
    const auto count = static_cast<std::size_t>(m * n);
    wide.resize(count);
    std::copy(x, x + count, wide.begin());
    gram_dispatch(wide.data(), m, n, g);
    release_if_large(wide);
}

void gram(const double* x, std::int64_t m, std::int64_t n, double* g) {
    gram_dispatch(x, m, n, g);
}

}  // namespace gradatlas::detail
