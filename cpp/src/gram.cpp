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
#include <type_traits>
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

// P x P tiles of the upper triangle by tile(a, b, out[P][P]), the rows past the
// last whole tile by single(a, b, out[1][1]); the symmetric entry mirrored.
template <int P, typename T, typename Tile, typename Single>
GRADATLAS_INLINE void gram_tiles(const T* x, std::int64_t m, std::int64_t n, double* g, Tile tile,
                                 Single single) {
    const std::int64_t tiled = m - m % P;
    for (std::int64_t a = 0; a < tiled; a += P)
        for (std::int64_t b = a; b < tiled; b += P) {
            double t[P][P];
            tile(x + a * n, x + b * n, t);
            for (int p = 0; p < P; ++p)
                for (int q = 0; q < P; ++q) {
                    g[(a + p) * m + (b + q)] = t[p][q];
                    g[(b + q) * m + (a + p)] = t[p][q];
                }
        }
    for (std::int64_t a = 0; a < m; ++a)  // the rows past the last whole tile
        for (std::int64_t b = std::max(a, tiled); b < m; ++b) {
            double t[1][1];
            single(x + a * n, x + b * n, t);
            g[a * m + b] = t[0][0];
            g[b * m + a] = t[0][0];
        }
}

template <int P, bool Fused, typename T>
GRADATLAS_INLINE void gram_tiles(const T* x, std::int64_t m, std::int64_t n, double* g) {
    gram_tiles<P>(
        x, m, n, g,
        [n](const T* a, const T* b, double (&t)[P][P]) { dot_tile<P, P, Fused>(a, b, n, t); },
        [n](const T* a, const T* b, double (&t)[1][1]) { dot_tile<1, 1, Fused>(a, b, n, t); });
}

// Only serial loops in the ISA variants (see det_gemm.cpp). AVX-512 keeps a
// 4 x 4 tile of 64-byte accumulators in registers.
#ifdef GRADATLAS_KERNEL_DISPATCH
template <typename T>
__attribute__((target("avx512f,fma"))) void gram_avx512(const T* x, std::int64_t m, std::int64_t n,
                                                        double* g) {
    gram_tiles<4, true>(x, m, n, g);
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")
// AVX2: the 8 lanes' partial sums are independent chains, so lanes 0-3 and
// 4-7 are summed in two passes over the rows, each a 3 x 3 tile of one-register
// accumulators (9, with 3 of b and 1 of a: 13 of the 16 registers). The 64-byte
// generic tile (2 x 2, two registers per accumulator) spilled and ran at a
// quarter of the products' speed. Each lane is still fma over its elements in
// order, then the same pairwise sum: the same bits.
template <int P>
GRADATLAS_INLINE void dot_tile_avx2(const double* a, const double* b, std::int64_t n,
                                    double (&out)[P][P]) {
    const std::int64_t full = n - n % kLanes;
    alignas(32) double lanes[P][P][kLanes];
    for (int h = 0; h < 2; ++h) {
        __m256d acc[P][P];
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < P; ++q) acc[p][q] = _mm256_setzero_pd();
        for (std::int64_t i = 4 * h; i < full; i += kLanes) {
            __m256d vb[P];
            for (int q = 0; q < P; ++q) vb[q] = _mm256_loadu_pd(b + q * n + i);
            for (int p = 0; p < P; ++p) {
                const __m256d va = _mm256_loadu_pd(a + p * n + i);
                for (int q = 0; q < P; ++q) acc[p][q] = _mm256_fmadd_pd(va, vb[q], acc[p][q]);
            }
        }
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < P; ++q) _mm256_store_pd(&lanes[p][q][4 * h], acc[p][q]);
    }
    for (int p = 0; p < P; ++p)
        for (int q = 0; q < P; ++q) {
            const double* l = lanes[p][q];
            double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
            for (std::int64_t t = full; t < n; ++t) s = std::fma(a[p * n + t], b[q * n + t], s);
            out[p][q] = s;
        }
}

void gram_avx2(const double* x, std::int64_t m, std::int64_t n, double* g) {
    gram_tiles<3>(
        x, m, n, g,
        [n](const double* a, const double* b, double (&t)[3][3]) { dot_tile_avx2<3>(a, b, n, t); },
        [n](const double* a, const double* b, double (&t)[1][1]) { dot_tile_avx2<1>(a, b, n, t); });
}
#pragma GCC pop_options
#endif

// aarch64 always has FMA: its generic tiles fuse (the vector a*b+c contracted,
// this file being compiled with -ffp-contract=fast there; the scalar tails
// std::fma), the same chains as the x86-64 FMA levels, hence their bits.
#if defined(__aarch64__)
constexpr bool kGenericFused = true;
#else
constexpr bool kGenericFused = false;
#endif

template <typename T>
void gram_dispatch(const T* x, std::int64_t m, std::int64_t n, double* g) {
#ifdef GRADATLAS_KERNEL_DISPATCH
    const Isa isa = kernel_isa();
    if (isa == Isa::avx512) return gram_avx512(x, m, n, g);
    if constexpr (std::is_same_v<T, double>)
        if (isa == Isa::avx2) return gram_avx2(x, m, n, g);
#endif
    gram_tiles<4, kGenericFused>(x, m, n, g);
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
