#include "gradatlas/det_gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "buffer.hpp"
#include "isa.hpp"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace gradatlas::detail {
namespace {

#define GRADATLAS_INLINE inline __attribute__((always_inline))

// 64-byte vectors (the AVX-512 blocks). Each element of a product is one chain
// over k whatever the vector width, so the AVX2 and generic blocks below, in
// registers of their own widths, give the same bits as these.
template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
    typedef float V __attribute__((vector_size(64)));
    static constexpr int W = 16;
};
template <>
struct Lanes<double> {
    typedef double V __attribute__((vector_size(64)));
    static constexpr int W = 8;
};

template <typename T>
GRADATLAS_INLINE typename Lanes<T>::V load(const T* p) {
    typename Lanes<T>::V v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

constexpr int kNnVectors = 2;            // vectors of C columns per block
constexpr std::int64_t kRowBlock = 128;  // rows of A per task

// R rows of C, NV vectors of columns: c[r][x] = sum_p a[r][p] b[p][x], p in order.
// With `resume` the sums continue from c (the previous block of p): the chain
// of operations for each element is the same as in one pass.
template <typename T, int R, int NV>
GRADATLAS_INLINE void nn_block(const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                               std::int64_t ldc, std::int64_t k, bool resume = false) {
    using V = typename Lanes<T>::V;
    constexpr int W = Lanes<T>::W;
    V acc[R][NV];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = resume ? load(c + r * ldc + v * W) : V{};
    for (std::int64_t p = 0; p < k; ++p) {
        V bv[NV];
        for (int v = 0; v < NV; ++v) bv[v] = load(b + p * ldb + v * W);
        for (int r = 0; r < R; ++r) {
            const T s = a[r * lda + p];
            for (int v = 0; v < NV; ++v) acc[r][v] = acc[r][v] + s * bv[v];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) std::memcpy(c + r * ldc + v * W, &acc[r][v], sizeof(V));
}

// Columns not filling a vector: the same operations one lane at a time. The
// vector code is compiled with FMA contraction where the ISA has FMA, so the
// scalar code fuses explicitly there (Fused) and never elsewhere.
template <typename T, int R, bool Fused>
GRADATLAS_INLINE void nn_scalar(const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                                std::int64_t ldc, std::int64_t k, bool resume) {
    for (int r = 0; r < R; ++r) {
        T s = resume ? c[r * ldc] : T(0);
        for (std::int64_t p = 0; p < k; ++p) {
            if constexpr (Fused)
                s = std::fma(a[r * lda + p], b[p * ldb], s);
            else
                s = s + a[r * lda + p] * b[p * ldb];
        }
        c[r * ldc] = s;
    }
}

template <typename T, int R, bool Fused>
GRADATLAS_INLINE void nn_rows(std::int64_t x0, std::int64_t x1, std::int64_t k, const T* a,
                              std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                              std::int64_t ldc, bool resume) {
    constexpr int W = Lanes<T>::W;
    std::int64_t x = x0;
    for (; x + kNnVectors * W <= x1; x += kNnVectors * W)
        nn_block<T, R, kNnVectors>(a, lda, b + x, ldb, c + x, ldc, k, resume);
    for (; x + W <= x1; x += W) nn_block<T, R, 1>(a, lda, b + x, ldb, c + x, ldc, k, resume);
    for (; x < x1; ++x) nn_scalar<T, R, Fused>(a, lda, b + x, ldb, c + x, ldc, k, resume);
}

constexpr std::int64_t kDepthBlock = 128;  // rows of B packed at a time

// Rows in blocks of R (more accumulators where the ISA has the registers);
// the block size never changes an element's operations.
// A whole panel (kNnVectors vectors wide) used by many rows first copies B,
// kDepthBlock rows at a time, into a contiguous buffer: read in place, its rows
// lie ldb apart and (ldb a multiple of 1 KiB here) fall into a few L1 sets,
// evicting each other. With few rows the copy costs more than it saves
// (16 x 1024 x 256: 105 GF/s packed, 128 in place; 256^3: 162 against 142).
constexpr std::int64_t kPackFromRows = 64;

// The panel logic every level shares: C's columns x0..x1 (at most one panel) of
// all m rows. rows(width, depth, a, b, ldb, c, resume) computes them with the
// level's blocks for `depth` steps of the sum over k, continuing from C with
// `resume`; it is called once in place or, packed, once per block of depth.
template <typename T, typename Rows>
GRADATLAS_INLINE void nn_panel_blocks(std::int64_t x0, std::int64_t x1, std::int64_t m,
                                      std::int64_t k, const T* a, const T* b, std::int64_t ldb,
                                      T* c, Rows rows) {
    constexpr std::int64_t kPanel = kNnVectors * Lanes<T>::W;
    if (x1 - x0 == kPanel && m >= kPackFromRows) {
        alignas(64) T packed[kDepthBlock * kPanel];
        for (std::int64_t p0 = 0; p0 < k; p0 += kDepthBlock) {
            const std::int64_t depth = std::min(kDepthBlock, k - p0);
            for (std::int64_t p = 0; p < depth; ++p)
                std::memcpy(packed + p * kPanel, b + (p0 + p) * ldb + x0, sizeof(T) * kPanel);
            rows(kPanel, depth, a + p0, packed, kPanel, c + x0, p0 > 0);
        }
        return;
    }
    rows(x1 - x0, k, a, b + x0, ldb, c + x0, false);
}

template <typename T, int R, bool Fused>
GRADATLAS_INLINE void nn_panel(std::int64_t x0, std::int64_t x1, std::int64_t m, std::int64_t k,
                               const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                               std::int64_t ldc) {
    nn_panel_blocks(x0, x1, m, k, a, b, ldb, c,
                    [&](std::int64_t width, std::int64_t depth, const T* a0, const T* b0,
                        std::int64_t ldb0, T* c0, bool resume) {
                        std::int64_t i = 0;
                        for (; i + R <= m; i += R)
                            nn_rows<T, R, Fused>(0, width, depth, a0 + i * lda, lda, b0, ldb0,
                                                 c0 + i * ldc, ldc, resume);
                        for (; i < m; ++i)
                            nn_rows<T, 1, Fused>(0, width, depth, a0 + i * lda, lda, b0, ldb0,
                                                 c0 + i * ldc, ldc, resume);
                    });
}

// The cloned entry points hold only serial loops: OpenMP regions are outlined
// before cloning and would run the default ISA.
// AVX-512 has 32 vector registers: 8 rows x 2 vectors of accumulators fit
// (nn_panel). AVX2 and the generic level have blocks of their own below.
// The FMA variants rely on GCC contracting the vector `acc + s * b` (this file
// is compiled with -ffp-contract=fast on x86-64) while the scalar tails call
// std::fma; contraction needs an optimized build, so -O0 builds use the
// unfused code everywhere instead (consistent, but not bit-equal to release).
#ifdef GRADATLAS_KERNEL_DISPATCH
template <typename T>
__attribute__((target("avx512f,fma"))) void nn_panel_avx512(std::int64_t x0, std::int64_t x1,
                                                            std::int64_t m, std::int64_t k,
                                                            const T* a, std::int64_t lda,
                                                            const T* b, std::int64_t ldb, T* c,
                                                            std::int64_t ldc) {
    nn_panel<T, 8, true>(x0, x1, m, k, a, lda, b, ldb, c, ldc);
}
#pragma GCC push_options
#pragma GCC target("avx2,fma")
// AVX2 has 16 registers of 32 bytes. The 64-byte generic vectors above are
// lowered to register pairs, but GCC builds every broadcast of a[r][p] into
// them through the stack (16 scalar stores, then reloads): each FMA then waits
// on a store-forwarding stall (1.8 GF/s). So AVX2 gets its own blocks with
// explicit broadcasts: 6 rows x 2 registers of accumulators, 2 of B and one
// broadcast (15 registers), the shape of the usual AVX2 sgemm micro-kernel.
// Each element is still fma(a[r][p], b[p][x], c) for p in order: the same bits.
template <typename T>
struct Ymm;
template <>
struct Ymm<float> {
    using V = __m256;
    static constexpr int W = 8;
    static GRADATLAS_INLINE V load(const float* p) { return _mm256_loadu_ps(p); }
    static GRADATLAS_INLINE void store(float* p, V v) { _mm256_storeu_ps(p, v); }
    static GRADATLAS_INLINE V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
    static GRADATLAS_INLINE V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static GRADATLAS_INLINE V zero() { return _mm256_setzero_ps(); }
};
template <>
struct Ymm<double> {
    using V = __m256d;
    static constexpr int W = 4;
    static GRADATLAS_INLINE V load(const double* p) { return _mm256_loadu_pd(p); }
    static GRADATLAS_INLINE void store(double* p, V v) { _mm256_storeu_pd(p, v); }
    static GRADATLAS_INLINE V broadcast(const double* p) { return _mm256_broadcast_sd(p); }
    static GRADATLAS_INLINE V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static GRADATLAS_INLINE V zero() { return _mm256_setzero_pd(); }
};

constexpr int kYmmRows = 6;
constexpr int kYmmCols = 2;  // registers of columns per block

template <typename T, int R, int NY>
GRADATLAS_INLINE void nn_block_ymm(const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                                   std::int64_t ldc, std::int64_t k, bool resume) {
    using Y = Ymm<T>;
    typename Y::V acc[R][NY];
    for (int r = 0; r < R; ++r)
        for (int y = 0; y < NY; ++y)
            acc[r][y] = resume ? Y::load(c + r * ldc + y * Y::W) : Y::zero();
    for (std::int64_t p = 0; p < k; ++p) {
        typename Y::V bv[NY];
        for (int y = 0; y < NY; ++y) bv[y] = Y::load(b + p * ldb + y * Y::W);
        for (int r = 0; r < R; ++r) {
            const typename Y::V s = Y::broadcast(a + r * lda + p);
            for (int y = 0; y < NY; ++y) acc[r][y] = Y::fma(s, bv[y], acc[r][y]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int y = 0; y < NY; ++y) Y::store(c + r * ldc + y * Y::W, acc[r][y]);
}

// Columns x0..x1 of R rows: blocks of kYmmCols registers, then one register,
// then the scalar tail (std::fma, the same operation one lane at a time).
template <typename T, int R>
GRADATLAS_INLINE void nn_cols_ymm(std::int64_t x0, std::int64_t x1, std::int64_t k, const T* a,
                                  std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                                  std::int64_t ldc, bool resume) {
    constexpr int W = Ymm<T>::W;
    std::int64_t x = x0;
    for (; x + kYmmCols * W <= x1; x += kYmmCols * W)
        nn_block_ymm<T, R, kYmmCols>(a, lda, b + x, ldb, c + x, ldc, k, resume);
    for (; x + W <= x1; x += W) nn_block_ymm<T, R, 1>(a, lda, b + x, ldb, c + x, ldc, k, resume);
    for (; x < x1; ++x) {
        for (int r = 0; r < R; ++r) {
            T s = resume ? c[r * ldc + x] : T(0);
            for (std::int64_t p = 0; p < k; ++p) s = std::fma(a[r * lda + p], b[p * ldb + x], s);
            c[r * ldc + x] = s;
        }
    }
}

// Rows in blocks of kYmmRows, the remainder in one smaller block.
template <typename T>
GRADATLAS_INLINE void nn_rows_ymm(std::int64_t x0, std::int64_t x1, std::int64_t m, std::int64_t k,
                                  const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                                  std::int64_t ldc, bool resume) {
    std::int64_t i = 0;
    for (; i + kYmmRows <= m; i += kYmmRows)
        nn_cols_ymm<T, kYmmRows>(x0, x1, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, resume);
    const T* ar = a + i * lda;
    T* cr = c + i * ldc;
    switch (m - i) {
        case 5:
            nn_cols_ymm<T, 5>(x0, x1, k, ar, lda, b, ldb, cr, ldc, resume);
            break;
        case 4:
            nn_cols_ymm<T, 4>(x0, x1, k, ar, lda, b, ldb, cr, ldc, resume);
            break;
        case 3:
            nn_cols_ymm<T, 3>(x0, x1, k, ar, lda, b, ldb, cr, ldc, resume);
            break;
        case 2:
            nn_cols_ymm<T, 2>(x0, x1, k, ar, lda, b, ldb, cr, ldc, resume);
            break;
        case 1:
            nn_cols_ymm<T, 1>(x0, x1, k, ar, lda, b, ldb, cr, ldc, resume);
            break;
        default:
            break;
    }
}

template <typename T>
void nn_panel_avx2(std::int64_t x0, std::int64_t x1, std::int64_t m, std::int64_t k, const T* a,
                   std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc) {
    nn_panel_blocks(x0, x1, m, k, a, b, ldb, c,
                    [&](std::int64_t width, std::int64_t depth, const T* a0, const T* b0,
                        std::int64_t ldb0, T* c0, bool resume) {
                        nn_rows_ymm<T>(0, width, m, depth, a0, lda, b0, ldb0, c0, ldc, resume);
                    });
}
#pragma GCC pop_options
#endif

// The generic level (no FMA, the baseline vector unit: SSE2 on x86-64, NEON on
// aarch64): blocks of R rows x X columns in 16-byte vectors, R x X
// accumulators that fit 16 registers (the 64-byte vectors of nn_block are
// split and, on SSE2, their broadcasts go through the stack: 1.9 GF/s; plain
// loops for the auto-vectorizer did worse, 1.2). Unfused, each element is
// still c = c + a[r][p] * b[p][x] for p in order, as in nn_block.
constexpr int kPortableRows = 2;

template <typename T>
constexpr int kPortableCols = 64 / static_cast<int>(sizeof(T));  // 16 floats, 8 doubles

// 16 bytes: the vector width of SSE2 and NEON, so a scalar times a vector is
// one broadcast instruction (GCC and Clang vector extensions).
template <typename T>
struct Native {
    typedef T V __attribute__((vector_size(16)));
    static constexpr int W = 16 / static_cast<int>(sizeof(T));
};

// a * b + c: fused where every CPU of the target has FMA (aarch64), so that
// aarch64 gives the x86-64 FMA levels' bits; unfused elsewhere (the x86-64
// baseline has no FMA). Explicit (NEON intrinsics, std::fma), not left to
// contraction, which may fuse some operations and not others.
#if defined(__aarch64__) && defined(__ARM_NEON)
GRADATLAS_INLINE float multiply_add(float a, float b, float c) {
    return std::fma(a, b, c);
}
GRADATLAS_INLINE double multiply_add(double a, double b, double c) {
    return std::fma(a, b, c);
}
GRADATLAS_INLINE Native<float>::V multiply_add(float s, Native<float>::V b, Native<float>::V c) {
    return (Native<float>::V)vfmaq_n_f32((float32x4_t)c, (float32x4_t)b, s);
}
GRADATLAS_INLINE Native<double>::V multiply_add(double s, Native<double>::V b,
                                                Native<double>::V c) {
    return (Native<double>::V)vfmaq_n_f64((float64x2_t)c, (float64x2_t)b, s);
}
#else
template <typename T, typename V>
GRADATLAS_INLINE V multiply_add(T a, V b, V c) {
    return c + a * b;
}
#endif

template <typename T, int R, int X>
GRADATLAS_INLINE void nn_block_portable(const T* a, std::int64_t lda, const T* b, std::int64_t ldb,
                                        T* c, std::int64_t ldc, std::int64_t k, bool resume) {
    if constexpr (X == 1) {
        for (int r = 0; r < R; ++r) {
            T s = resume ? c[r * ldc] : T(0);
            for (std::int64_t p = 0; p < k; ++p) s = multiply_add(a[r * lda + p], b[p * ldb], s);
            c[r * ldc] = s;
        }
    } else {
        using V = typename Native<T>::V;
        constexpr int W = Native<T>::W, NV = X / W;
        V acc[R][NV];
        for (int r = 0; r < R; ++r)
            for (int v = 0; v < NV; ++v) {
                if (resume)
                    std::memcpy(&acc[r][v], c + r * ldc + v * W, sizeof(V));
                else
                    acc[r][v] = V{};
            }
        for (std::int64_t p = 0; p < k; ++p) {
            V bv[NV];
            std::memcpy(bv, b + p * ldb, sizeof bv);
            for (int r = 0; r < R; ++r) {
                const T s = a[r * lda + p];
                for (int v = 0; v < NV; ++v) acc[r][v] = multiply_add(s, bv[v], acc[r][v]);
            }
        }
        for (int r = 0; r < R; ++r)
            for (int v = 0; v < NV; ++v) std::memcpy(c + r * ldc + v * W, &acc[r][v], sizeof(V));
    }
}

template <typename T, int R>
GRADATLAS_INLINE void nn_cols_portable(std::int64_t x0, std::int64_t x1, std::int64_t k, const T* a,
                                       std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                                       std::int64_t ldc, bool resume) {
    constexpr int X = kPortableCols<T>;
    const std::int64_t blocks = (x1 - x0) / X, full = x0 + blocks * X;
    for (std::int64_t j = 0; j < blocks; ++j)
        nn_block_portable<T, R, X>(a, lda, b + x0 + j * X, ldb, c + x0 + j * X, ldc, k, resume);
    for (std::int64_t x = full; x < x1; ++x)
        nn_block_portable<T, R, 1>(a, lda, b + x, ldb, c + x, ldc, k, resume);
}

template <typename T>
void nn_panel_portable(std::int64_t x0, std::int64_t x1, std::int64_t m, std::int64_t k, const T* a,
                       std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc) {
    constexpr int R = kPortableRows;
    nn_panel_blocks(x0, x1, m, k, a, b, ldb, c,
                    [&](std::int64_t width, std::int64_t depth, const T* a0, const T* b0,
                        std::int64_t ldb0, T* c0, bool resume) {
                        std::int64_t i = 0;
                        for (; i + R <= m; i += R)
                            nn_cols_portable<T, R>(0, width, depth, a0 + i * lda, lda, b0, ldb0,
                                                   c0 + i * ldc, ldc, resume);
                        for (; i < m; ++i)
                            nn_cols_portable<T, 1>(0, width, depth, a0 + i * lda, lda, b0, ldb0,
                                                   c0 + i * ldc, ldc, resume);
                    });
}

template <typename T>
void nn_panel_dispatch(std::int64_t x0, std::int64_t x1, std::int64_t m, std::int64_t k, const T* a,
                       std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc) {
#ifdef GRADATLAS_KERNEL_DISPATCH
    const Isa isa = kernel_isa();
    if (isa == Isa::avx512) return nn_panel_avx512<T>(x0, x1, m, k, a, lda, b, ldb, c, ldc);
    if (isa == Isa::avx2) return nn_panel_avx2<T>(x0, x1, m, k, a, lda, b, ldb, c, ldc);
#endif
    nn_panel_portable<T>(x0, x1, m, k, a, lda, b, ldb, c, ldc);
}

template <typename T>
void panel_nn(std::int64_t x0, std::int64_t x1, std::int64_t m, std::int64_t k, const T* a,
              std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc) {
    nn_panel_dispatch<T>(x0, x1, m, k, a, lda, b, ldb, c, ldc);
}

// Tasks are (block of rows, panel of columns), row-block major: a panel of B
// (k x 32) stays in L1 across a block's rows, and a block of A (kRowBlock x k)
// stays in L2 across the panels a thread runs for it.
template <typename T>
void run_nn(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
            const T* b, std::int64_t ldb, T* c, std::int64_t ldc, int n_threads) {
    constexpr std::int64_t panel = kNnVectors * Lanes<T>::W;
    const std::int64_t panels = (n + panel - 1) / panel;
    const std::int64_t row_blocks = (m + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (std::int64_t t = 0; t < row_blocks * panels; ++t) {
        const std::int64_t i0 = (t / panels) * kRowBlock, q = t % panels;
        panel_nn(q * panel, std::min(n, (q + 1) * panel), std::min(kRowBlock, m - i0), k,
                 a + i0 * lda, lda, b, ldb, c + i0 * ldc, ldc);
    }
}

}  // namespace

#ifdef GRADATLAS_KERNEL_DISPATCH
namespace {
// out (8 x 8, row stride ldo) = b (8 x 8, row stride ldb) transposed, in
// registers: the scalar loop reads one column element at a time.
__attribute__((target("avx2"))) void transpose_8x8(const float* b, std::int64_t ldb, float* out,
                                                   std::int64_t ldo) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(b + i * ldb);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(out + i * ldo, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(out + (i + 4) * ldo, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

__attribute__((target("avx2"))) void transpose_tile_avx2(const float* b, std::int64_t rows,
                                                         std::int64_t cols, float* out,
                                                         std::int64_t i0, std::int64_t i1,
                                                         std::int64_t j0, std::int64_t j1) {
    std::int64_t j = j0;
    for (; j + 8 <= j1; j += 8) {
        std::int64_t i = i0;
        for (; i + 8 <= i1; i += 8) transpose_8x8(b + i * cols + j, cols, out + j * rows + i, rows);
        for (std::int64_t jj = j; jj < j + 8; ++jj)
            for (std::int64_t ii = i; ii < i1; ++ii) out[jj * rows + ii] = b[ii * cols + jj];
    }
    for (; j < j1; ++j)
        for (std::int64_t i = i0; i < i1; ++i) out[j * rows + i] = b[i * cols + j];
}
}  // namespace
#endif

template <typename T>
void transpose(const T* b, std::int64_t rows, std::int64_t cols, T* out, int n_threads) {
    constexpr std::int64_t tile = 32;  // a tile of each side stays in L1
    const std::int64_t tiles = (cols + tile - 1) / tile;
#ifdef GRADATLAS_KERNEL_DISPATCH
    const bool vector = std::is_same_v<T, float> && kernel_isa() != Isa::generic;
#endif
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (std::int64_t t = 0; t < tiles; ++t) {
        const std::int64_t j0 = t * tile, j1 = std::min(cols, j0 + tile);
        for (std::int64_t i0 = 0; i0 < rows; i0 += tile) {
            const std::int64_t i1 = std::min(rows, i0 + tile);
#ifdef GRADATLAS_KERNEL_DISPATCH
            if constexpr (std::is_same_v<T, float>) {
                if (vector) {
                    transpose_tile_avx2(b, rows, cols, out, i0, i1, j0, j1);
                    continue;
                }
            }
#endif
            for (std::int64_t j = j0; j < j1; ++j)
                for (std::int64_t i = i0; i < i1; ++i) out[j * rows + i] = b[i * cols + j];
        }
    }
}
template void transpose<float>(const float*, std::int64_t, std::int64_t, float*, int);
template void transpose<double>(const double*, std::int64_t, std::int64_t, double*, int);

// Either C = A (B^T) with B transposed, or C^T = B (A^T) with A transposed and
// the result transposed back, whichever copies less: both are the same
// fused multiply-add chain over k for every element (a*b = b*a exactly), so
// the choice never changes a bit. C^T needs m to fill whole vectors.
// Scratch kept between calls (one per calling thread) unless it is large.
template <typename T>
void gemm_nt(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
             const T* b, std::int64_t ldb, T* c, std::int64_t ldc, int n_threads) {
    thread_local std::vector<T> left, right;
    const auto size = [](std::int64_t v) { return static_cast<std::size_t>(v); };
    if ((k + n) * m < k * n && m % Lanes<T>::W == 0 && lda == k && ldc == n) {
        left.resize(size(k * m));
        right.resize(size(n * m));
        transpose(a, m, k, left.data(), n_threads);
        run_nn(n, m, k, b, ldb, left.data(), m, right.data(), m, n_threads);
        transpose(right.data(), n, m, c, n_threads);
        release_if_large(left);
        release_if_large(right);
        return;
    }
    left.resize(size(k * n));
    if (ldb == k) {
        transpose(b, n, k, left.data(), n_threads);
    } else {
        for (std::int64_t j = 0; j < n; ++j)
            for (std::int64_t p = 0; p < k; ++p) left[size(p * n + j)] = b[j * ldb + p];
    }
    run_nn(m, n, k, a, lda, left.data(), n, c, ldc, n_threads);
    release_if_large(left);
}
template void gemm_nt<float>(std::int64_t, std::int64_t, std::int64_t, const float*, std::int64_t,
                             const float*, std::int64_t, float*, std::int64_t, int);
template void gemm_nt<double>(std::int64_t, std::int64_t, std::int64_t, const double*, std::int64_t,
                              const double*, std::int64_t, double*, std::int64_t, int);
void gemm_nn(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
             const float* b, std::int64_t ldb, float* c, std::int64_t ldc, int n_threads) {
    run_nn(m, n, k, a, lda, b, ldb, c, ldc, n_threads);
}
void gemm_nn(std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
             const double* b, std::int64_t ldb, double* c, std::int64_t ldc, int n_threads) {
    run_nn(m, n, k, a, lda, b, ldb, c, ldc, n_threads);
}

}  // namespace gradatlas::detail
