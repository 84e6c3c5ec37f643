#include "gradatlas/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "fast_exp.hpp"
#include "isa.hpp"
#include "target_clones.hpp"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace gradatlas {
namespace {

constexpr std::uint32_t kMul0 = 0xD2511F53u;
constexpr std::uint32_t kMul1 = 0xCD9E8D57u;
constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;
constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;
constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr double kTwoPow32Inv = 1.0 / 4294967296.0;

// Blocks are produced in batches, structure-of-arrays, so the rounds vectorize.
constexpr std::size_t kBatch = 64;

struct BlockBatch {
    std::uint32_t w[4][kBatch];
};

// Sixteen blocks side by side in GCC vector types. Left to itself the compiler
// widens every 32-bit word to 64 bits and back around each product; here each
// 32 x 32 -> 64 product takes one even-lane and one odd-lane unsigned multiply
// (pmuludq/vpmuludq) on the words as they are.
constexpr std::size_t kLanes = 16;
typedef std::uint32_t Words __attribute__((vector_size(kLanes * 4)));
typedef std::uint64_t Wide __attribute__((vector_size(kLanes * 4)));

// (high, low) 32-bit halves of m * a for every lane of a.
inline void mul_hi_lo(Words a, std::uint32_t m, Words& hi, Words& lo) {
    constexpr std::uint64_t kLow = 0xffffffffu;
    const Wide wide = reinterpret_cast<Wide>(a);
    const Wide even = (wide & kLow) * std::uint64_t(m);  // the products of lanes 0, 2, 4, ...
    const Wide odd = (wide >> 32) * std::uint64_t(m);    // of lanes 1, 3, 5, ...
    hi = reinterpret_cast<Words>((even >> 32) | (odd & ~kLow));
    lo = reinterpret_cast<Words>((even & kLow) | (odd << 32));
}

GRADATLAS_CLONES
void philox_generic(std::uint64_t seed, Stream stream, std::uint32_t layer,
                    std::uint64_t first_block, std::size_t n, BlockBatch& out) {
    Words iota;
    for (std::size_t j = 0; j < kLanes; ++j) iota[j] = std::uint32_t(j);
    // Lanes past n are computed too (out has room for kBatch) and ignored.
    for (std::size_t i = 0; i < n; i += kLanes) {
        const std::uint64_t block = first_block + i;
        const auto low = static_cast<std::uint32_t>(block);
        Words c0 = low + iota;
        // block + j may carry into the high word: the comparison is all ones (-1) there.
        Words c1 = static_cast<std::uint32_t>(block >> 32) - reinterpret_cast<Words>(c0 < low);
        Words c2 = Words{} + layer;
        Words c3 = Words{} + static_cast<std::uint32_t>(stream);
        auto k0 = static_cast<std::uint32_t>(seed);
        auto k1 = static_cast<std::uint32_t>(seed >> 32);
        for (int round = 0; round < 10; ++round) {
            Words hi0, lo0, hi1, lo1;
            mul_hi_lo(c0, kMul0, hi0, lo0);
            mul_hi_lo(c2, kMul1, hi1, lo1);
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += kWeyl0;
            k1 += kWeyl1;
        }
        std::memcpy(&out.w[0][i], &c0, sizeof c0);
        std::memcpy(&out.w[1][i], &c1, sizeof c1);
        std::memcpy(&out.w[2][i], &c2, sizeof c2);
        std::memcpy(&out.w[3][i], &c3, sizeof c3);
    }
}

// GCC 12 turns the 64-bit products above into full 64 x 64 multiplies (three
// pmuludq each), not seeing that both factors fit in 32 bits; with intrinsics
// each product is one. Same rounds, same bits (the known-answer test runs
// whichever version the machine dispatches to).
#ifdef GRADATLAS_KERNEL_DISPATCH

__attribute__((target("avx512f"))) inline void mul_hi_lo_16(__m512i a, __m512i m, __m512i& hi,
                                                            __m512i& lo) {
    const __m512i even = _mm512_mul_epu32(a, m);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
    lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

__attribute__((target("avx512f"))) void philox_avx512(std::uint64_t seed, Stream stream,
                                                      std::uint32_t layer,
                                                      std::uint64_t first_block, std::size_t n,
                                                      BlockBatch& out) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i m0 = _mm512_set1_epi32(int(kMul0)), m1 = _mm512_set1_epi32(int(kMul1));
    for (std::size_t i = 0; i < n; i += kLanes) {
        const std::uint64_t block = first_block + i;
        __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(int(std::uint32_t(block))), iota);
        __m512i c1 = _mm512_set1_epi32(int(std::uint32_t(block >> 32)));
        __m512i c2 = _mm512_set1_epi32(int(layer));
        __m512i c3 = _mm512_set1_epi32(int(stream));
        auto k0 = static_cast<std::uint32_t>(seed);
        auto k1 = static_cast<std::uint32_t>(seed >> 32);
        for (int round = 0; round < 10; ++round) {
            __m512i hi0, lo0, hi1, lo1;
            mul_hi_lo_16(c0, m0, hi0, lo0);
            mul_hi_lo_16(c2, m1, hi1, lo1);
            c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(int(k0)));
            c1 = lo1;
            c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(int(k1)));
            c3 = lo0;
            k0 += kWeyl0;
            k1 += kWeyl1;
        }
        _mm512_storeu_si512(&out.w[0][i], c0);
        _mm512_storeu_si512(&out.w[1][i], c1);
        _mm512_storeu_si512(&out.w[2][i], c2);
        _mm512_storeu_si512(&out.w[3][i], c3);
    }
}

__attribute__((target("avx2"))) inline void mul_hi_lo_8(__m256i a, __m256i m, __m256i& hi,
                                                        __m256i& lo) {
    const __m256i even = _mm256_mul_epu32(a, m);
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

__attribute__((target("avx2"))) void philox_avx2(std::uint64_t seed, Stream stream,
                                                 std::uint32_t layer, std::uint64_t first_block,
                                                 std::size_t n, BlockBatch& out) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_set1_epi32(int(kMul0)), m1 = _mm256_set1_epi32(int(kMul1));
    for (std::size_t i = 0; i < n; i += 8) {
        const std::uint64_t block = first_block + i;
        __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(int(std::uint32_t(block))), iota);
        __m256i c1 = _mm256_set1_epi32(int(std::uint32_t(block >> 32)));
        __m256i c2 = _mm256_set1_epi32(int(layer));
        __m256i c3 = _mm256_set1_epi32(int(stream));
        auto k0 = static_cast<std::uint32_t>(seed);
        auto k1 = static_cast<std::uint32_t>(seed >> 32);
        for (int round = 0; round < 10; ++round) {
            __m256i hi0, lo0, hi1, lo1;
            mul_hi_lo_8(c0, m0, hi0, lo0);
            mul_hi_lo_8(c2, m1, hi1, lo1);
            c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(int(k0)));
            c1 = lo1;
            c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(int(k1)));
            c3 = lo0;
            k0 += kWeyl0;
            k1 += kWeyl1;
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(&out.w[0][i]), c0);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(&out.w[1][i]), c1);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(&out.w[2][i]), c2);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(&out.w[3][i]), c3);
    }
}

// The x86-64 baseline (the generic level there): SSE2 has the same 32 x 32 -> 64
// even-lane multiply, 4 lanes to a register; no blend, so masks instead.
inline void mul_hi_lo_4(__m128i a, __m128i m, __m128i& hi, __m128i& lo) {
    const __m128i low = _mm_set_epi32(0, -1, 0, -1);  // the low word of each 64-bit half
    const __m128i even = _mm_mul_epu32(a, m);
    const __m128i odd = _mm_mul_epu32(_mm_srli_epi64(a, 32), m);
    hi = _mm_or_si128(_mm_srli_epi64(even, 32), _mm_andnot_si128(low, odd));
    lo = _mm_or_si128(_mm_and_si128(even, low), _mm_slli_epi64(odd, 32));
}

void philox_sse2(std::uint64_t seed, Stream stream, std::uint32_t layer, std::uint64_t first_block,
                 std::size_t n, BlockBatch& out) {
    const __m128i iota = _mm_setr_epi32(0, 1, 2, 3);
    const __m128i m0 = _mm_set1_epi32(int(kMul0)), m1 = _mm_set1_epi32(int(kMul1));
    for (std::size_t i = 0; i < n; i += 4) {
        const std::uint64_t block = first_block + i;
        __m128i c0 = _mm_add_epi32(_mm_set1_epi32(int(std::uint32_t(block))), iota);
        __m128i c1 = _mm_set1_epi32(int(std::uint32_t(block >> 32)));
        __m128i c2 = _mm_set1_epi32(int(layer));
        __m128i c3 = _mm_set1_epi32(int(stream));
        auto k0 = static_cast<std::uint32_t>(seed);
        auto k1 = static_cast<std::uint32_t>(seed >> 32);
        for (int round = 0; round < 10; ++round) {
            __m128i hi0, lo0, hi1, lo1;
            mul_hi_lo_4(c0, m0, hi0, lo0);
            mul_hi_lo_4(c2, m1, hi1, lo1);
            c0 = _mm_xor_si128(_mm_xor_si128(hi1, c1), _mm_set1_epi32(int(k0)));
            c1 = lo1;
            c2 = _mm_xor_si128(_mm_xor_si128(hi0, c3), _mm_set1_epi32(int(k1)));
            c3 = lo0;
            k0 += kWeyl0;
            k1 += kWeyl1;
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(&out.w[0][i]), c0);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(&out.w[1][i]), c1);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(&out.w[2][i]), c2);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(&out.w[3][i]), c3);
    }
}
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
// aarch64 has no 64 x 64 vector multiply, so GCC runs philox_generic's products
// one lane at a time through general registers; umull/umull2 give four
// 32 x 32 -> 64 products in two instructions. Same rounds, same bits.
inline void mul_hi_lo_neon(uint32x4_t a, uint32x4_t m, uint32x4_t& hi, uint32x4_t& lo) {
    const uint32x4_t low_half = vreinterpretq_u32_u64(vmull_u32(vget_low_u32(a), vget_low_u32(m)));
    const uint32x4_t high_half = vreinterpretq_u32_u64(vmull_high_u32(a, m));
    hi = vuzp2q_u32(low_half, high_half);  // the odd words: high halves of lanes 0..3
    lo = vuzp1q_u32(low_half, high_half);
}

void philox_neon(std::uint64_t seed, Stream stream, std::uint32_t layer, std::uint64_t first_block,
                 std::size_t n, BlockBatch& out) {
    const uint32x4_t iota = {0, 1, 2, 3};
    const uint32x4_t m0 = vdupq_n_u32(kMul0), m1 = vdupq_n_u32(kMul1);
    for (std::size_t i = 0; i < n; i += 4) {
        const std::uint64_t block = first_block + i;
        uint32x4_t c0 = vaddq_u32(vdupq_n_u32(std::uint32_t(block)), iota);
        uint32x4_t c1 = vdupq_n_u32(std::uint32_t(block >> 32));
        uint32x4_t c2 = vdupq_n_u32(layer);
        uint32x4_t c3 = vdupq_n_u32(std::uint32_t(stream));
        auto k0 = static_cast<std::uint32_t>(seed);
        auto k1 = static_cast<std::uint32_t>(seed >> 32);
        for (int round = 0; round < 10; ++round) {
            uint32x4_t hi0, lo0, hi1, lo1;
            mul_hi_lo_neon(c0, m0, hi0, lo0);
            mul_hi_lo_neon(c2, m1, hi1, lo1);
            c0 = veorq_u32(veorq_u32(hi1, c1), vdupq_n_u32(k0));
            c1 = lo1;
            c2 = veorq_u32(veorq_u32(hi0, c3), vdupq_n_u32(k1));
            c3 = lo0;
            k0 += kWeyl0;
            k1 += kWeyl1;
        }
        vst1q_u32(&out.w[0][i], c0);
        vst1q_u32(&out.w[1][i], c1);
        vst1q_u32(&out.w[2][i], c2);
        vst1q_u32(&out.w[3][i], c3);
    }
}
#endif

void philox_batch(std::uint64_t seed, Stream stream, std::uint32_t layer, std::uint64_t first_block,
                  std::size_t n, BlockBatch& out) {
#ifdef GRADATLAS_KERNEL_DISPATCH
    // The vector versions add the lane index to the counter's low word alone:
    // a batch whose counters carry into the high word takes the generic path.
    const detail::Isa isa = detail::kernel_isa();
    const bool no_carry = std::uint32_t(first_block) <= 0xffffffffu - kBatch;
    if (isa == detail::Isa::avx512 && no_carry)
        return philox_avx512(seed, stream, layer, first_block, n, out);
    if (isa == detail::Isa::avx2 && no_carry)
        return philox_avx2(seed, stream, layer, first_block, n, out);
    if (no_carry) return philox_sse2(seed, stream, layer, first_block, n, out);
#elif defined(__aarch64__) && defined(__ARM_NEON)
    if (std::uint32_t(first_block) <= 0xffffffffu - kBatch)
        return philox_neon(seed, stream, layer, first_block, n, out);
#endif
    philox_generic(seed, stream, layer, first_block, n, out);
}

// Uniform on (0, 1): never 0, so log() below is finite.
inline double open_unit(std::uint32_t w) {
    return (double(w) + 0.5) * kTwoPow32Inv;
}

// Calls emit(block_index_within_batch, values[4]) for every block overlapping
// [first, first + count) and copies the requested elements to out.
template <typename V, typename T>
void fill_blocks(std::uint64_t seed, Stream stream, std::uint32_t layer, std::uint64_t first,
                 std::size_t count, T* out,
                 void (*transform)(const BlockBatch&, std::size_t, V (&)[4][kBatch])) {
    if (count == 0) return;
    BlockBatch batch;
    V values[4][kBatch];
    const std::uint64_t end = first + count;
    std::uint64_t block = first / 4;
    const std::uint64_t last_block = (end - 1) / 4;
    while (block <= last_block) {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(kBatch, last_block - block + 1));
        philox_batch(seed, stream, layer, block, n, batch);
        transform(batch, n, values);
        const std::uint64_t base = block * 4;
        if (base >= first && base + 4 * n <= end) {  // the whole batch is wanted
            T* dst = out + (base - first);
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < 4; ++j) dst[4 * i + j] = static_cast<T>(values[j][i]);
        } else {
            for (std::size_t i = 0; i < n; ++i)
                for (std::uint64_t j = 0; j < 4; ++j) {
                    const std::uint64_t e = base + 4 * i + j;
                    if (e >= first && e < end) out[e - first] = static_cast<T>(values[j][i]);
                }
        }
        block += n;
    }
}

// The transform below uses only +, -, *, /, sqrt and integer operations, in
// loops the compiler vectorizes; libm's log/sin/cos are neither vectorized nor
// identical across C libraries, and these must give the same bits everywhere.
// Built with -ffp-contract=off (CMakeLists.txt) so no FMA changes a rounding.

constexpr double kLn2Hi = 6.93147180369123816490e-01;  // fdlibm's split of ln 2
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kRoundMagic = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer

// Bit-level helpers: every select is a mask, every int<->double conversion goes
// through the 1.5 * 2^52 "magic" offset, so the loops have no branches and no
// conversions that older vector units lack.
using detail::from_bits;
using detail::select_bits;
using detail::to_bits;
constexpr std::uint64_t kMagicBits = 0x4338000000000000ULL;  // bits of kRoundMagic
inline double small_int_to_double(std::int64_t k) {
    return from_bits<double>(kMagicBits + std::uint64_t(k)) - kRoundMagic;
}

// ln(u) for u = (w + 0.5) 2^-32, w a 32-bit integer: u = m 2^e with m in
// [sqrt(2)/2, sqrt(2)), ln m = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172,
// summed to s^21 (truncation below 4e-18).
inline double log_open_unit(std::uint32_t w) {
    constexpr std::uint64_t kMantissa = 0x000fffffffffffffULL;
    constexpr std::uint64_t kSqrt2Mantissa = 0x6a09e667f3bcdULL;  // mantissa of sqrt(2)
    const std::uint64_t bits = to_bits(double(w) + 0.5);          // in [0.5, 2^32): exact
    const std::uint64_t mantissa = bits & kMantissa;
    const std::uint64_t high = mantissa > kSqrt2Mantissa ? 1 : 0;  // m > sqrt(2): use m / 2
    const double m = from_bits<double>(mantissa | ((1023 - high) << 52));
    const std::int64_t e = std::int64_t((bits >> 52) & 0x7ff) - 1023 + std::int64_t(high);
    const double s = (m - 1.0) / (m + 1.0);
    const double z = s * s;
    // 1 + z/3 + z^2/5 + ... + z^10/21
    static constexpr double kAtanhSeries[] = {1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,
                                              1.0 / 9,  1.0 / 11, 1.0 / 13, 1.0 / 15,
                                              1.0 / 17, 1.0 / 19, 1.0 / 21};
    const double series = detail::horner(z, kAtanhSeries);
    const double k = small_int_to_double(e - 32);  // u = (w + 0.5) 2^-32
    return k * kLn2Hi + (k * kLn2Lo + 2.0 * s * series);
}

// sin and cos of 2 pi u for u = (w + 0.5) 2^-32: t = u - round(u) and then
// t - q/4 with q = round(4t) are exact, leaving |x| <= pi/4 for Taylor series
// to x^17 / x^18 (truncation below 1e-19); the quadrant q rotates the result:
// sin(x + q pi/2) is sn, cs, -sn, -cs and cos is cs, -sn, -cs, sn for q = 0..3.
inline void sincos_two_pi_open_unit(std::uint32_t w, double& sin_out, double& cos_out) {
    const double u = (double(w) + 0.5) * kTwoPow32Inv;
    const double t = u - ((u + kRoundMagic) - kRoundMagic);
    const double shifted = 4.0 * t + kRoundMagic;
    const std::uint64_t q = to_bits(shifted) & 3;  // round(4t) mod 4, from the low bits
    const double x = kTwoPi * (t - 0.25 * (shifted - kRoundMagic));
    const double x2 = x * x;
    // Taylor coefficients of sin(x)/x and cos(x) in x^2.
    static constexpr double kSin[] = {1.0,
                                      -1.0 / 6,
                                      1.0 / 120,
                                      -1.0 / 5040,
                                      1.0 / 362880,
                                      -1.0 / 39916800,
                                      1.0 / 6227020800,
                                      -1.0 / 1307674368000,
                                      1.0 / 355687428096000};
    static constexpr double kCos[] = {1.0,
                                      -0.5,
                                      1.0 / 24,
                                      -1.0 / 720,
                                      1.0 / 40320,
                                      -1.0 / 3628800,
                                      1.0 / 479001600,
                                      -1.0 / 87178291200,
                                      1.0 / 20922789888000,
                                      -1.0 / 6402373705728000};
    const double sn = x * detail::horner(x2, kSin);
    const double cs = detail::horner(x2, kCos);
    const std::uint64_t odd = 0 - (q & 1);               // all ones when q is odd
    const std::uint64_t sin_sign = (q & 2) << 62;        // negative for q = 2, 3
    const std::uint64_t cos_sign = ((q + 1) & 2) << 62;  // negative for q = 1, 2
    sin_out = from_bits<double>(to_bits(select_bits(odd, cs, sn)) ^ sin_sign);
    cos_out = from_bits<double>(to_bits(select_bits(odd, sn, cs)) ^ cos_sign);
}

GRADATLAS_CLONES
void box_muller(const BlockBatch& b, std::size_t n, double (&v)[4][kBatch]) {
    for (std::size_t i = 0; i < n; ++i) {
        const double r0 = std::sqrt(-2.0 * log_open_unit(b.w[0][i]));
        const double r1 = std::sqrt(-2.0 * log_open_unit(b.w[2][i]));
        double s0, c0, s1, c1;
        sincos_two_pi_open_unit(b.w[1][i], s0, c0);
        sincos_two_pi_open_unit(b.w[3][i], s1, c1);
        v[0][i] = r0 * c0;
        v[1][i] = r0 * s0;
        v[2][i] = r1 * c1;
        v[3][i] = r1 * s1;
    }
}

// float32 normals in float arithmetic: the same Box-Muller pairing of the same
// Philox words as box_muller, with polynomials sized for float precision (each
// truncation below 2e-9 relative), 16 lanes to a 512-bit vector and no double
// division or square root; about twice the speed of the double transform.
// The result agrees with the double transform rounded to float within a few
// float ulps, not bit for bit (tests/test_core.py).
constexpr float kLn2HiF = 0.693145751953125f;  // 0x3f317200: k * kLn2HiF is exact for |k| < 2^9
constexpr float kLn2LoF = 1.42860682030941723212e-06f;

// ln(u) for u = (w + 0.5) 2^-32 to float precision over all of (0, 1).
// u = m 2^k with m in [sqrt(2)/2, sqrt(2)), ln m = 2 atanh(s), s = (m - 1)/(m + 1),
// |s| < 0.172, summed to s^9. Below sqrt(2)/2, m comes from x = w + 0.5 rounded
// to float once (w >> 8 and the low byte are each exact); above it k = 0 and
// m - 1 = -(~w + 0.5) 2^-32 is taken from the integers, so ln u near 1 keeps
// float's relative precision instead of the 2^-24 absolute step of a float u.
inline float log_open_unit_f(std::uint32_t w) {
    constexpr float kTwoPow32InvF = 1.0f / 4294967296.0f;
    const float x = float(w >> 8) * 256.0f + (float(w & 0xffu) + 0.5f);
    const std::uint32_t bits = to_bits(x);
    const std::uint32_t mantissa = bits & 0x007fffffu;
    const std::uint32_t high = mantissa > 0x3504f3u ? 1u : 0u;  // m > sqrt(2): use m / 2
    const float m = from_bits<float>(mantissa | ((127u - high) << 23));
    const std::int32_t e = std::int32_t((bits >> 23) & 0xffu) - 127 + std::int32_t(high);
    const std::uint32_t top = 0u - std::uint32_t(w >= 0xb504f334u);  // all ones: u >= sqrt(2)/2
    // 1 - u; ~w < 2^31 when top, and a signed conversion is what vectorizes everywhere
    const float d = (float(std::int32_t(~w & 0x7fffffffu)) + 0.5f) * kTwoPow32InvF;
    const float s = select_bits(top, -d, m - 1.0f) / select_bits(top, 2.0f - d, m + 1.0f);
    const float z = s * s;
    static constexpr float kAtanhSeries[] = {1.0f, 1.0f / 3, 1.0f / 5, 1.0f / 7, 1.0f / 9};
    const float series = detail::horner(z, kAtanhSeries);
    const float k = select_bits(top, 0.0f, float(e - 32));
    return k * kLn2HiF + (k * kLn2LoF + 2.0f * s * series);
}

// sin and cos of 2 pi u for u = (w + 0.5) 2^-32, reduced in integers: the
// quadrant q = round(4u) mod 4 is the top two bits of w + 2^29, and the rest,
// j = (w + 2^29) mod 2^30 - 2^29, gives x = 2 pi (j + 0.5) 2^-32 in [-pi/4, pi/4]
// with float's relative precision even where x is near 0 (a float u would
// leave only 24 bits for the angle). Taylor series to x^9 and x^10.
inline void sincos_two_pi_open_unit_f(std::uint32_t w, float& sin_out, float& cos_out) {
    constexpr float kTwoPiOverTwoPow32 = 6.28318530717958647692f / 4294967296.0f;
    const std::uint32_t shifted = w + (1u << 29);
    const std::uint32_t q = shifted >> 30;
    const auto j = std::int32_t(shifted & ((1u << 30) - 1u)) - (1 << 29);
    const float x = kTwoPiOverTwoPow32 * (float(j) + 0.5f);
    const float x2 = x * x;
    // Taylor coefficients of sin(x)/x and cos(x) in x^2.
    static constexpr float kSin[] = {1.0f, -1.0f / 6, 1.0f / 120, -1.0f / 5040, 1.0f / 362880};
    static constexpr float kCos[] = {1.0f,        -0.5f,        1.0f / 24,
                                     -1.0f / 720, 1.0f / 40320, -1.0f / 3628800};
    const float sn = x * detail::horner(x2, kSin);
    const float cs = detail::horner(x2, kCos);
    const std::uint32_t odd = 0u - (q & 1u);
    const std::uint32_t sin_sign = (q & 2u) << 30;
    const std::uint32_t cos_sign = ((q + 1u) & 2u) << 30;
    sin_out = from_bits<float>(to_bits(select_bits(odd, cs, sn)) ^ sin_sign);
    cos_out = from_bits<float>(to_bits(select_bits(odd, sn, cs)) ^ cos_sign);
}

GRADATLAS_CLONES
void box_muller_float(const BlockBatch& b, std::size_t n, float (&v)[4][kBatch]) {
    for (std::size_t i = 0; i < n; ++i) {
        const float r0 = std::sqrt(-2.0f * log_open_unit_f(b.w[0][i]));
        const float r1 = std::sqrt(-2.0f * log_open_unit_f(b.w[2][i]));
        float s0, c0, s1, c1;
        sincos_two_pi_open_unit_f(b.w[1][i], s0, c0);
        sincos_two_pi_open_unit_f(b.w[3][i], s1, c1);
        v[0][i] = r0 * c0;
        v[1][i] = r0 * s0;
        v[2][i] = r1 * c1;
        v[3][i] = r1 * s1;
    }
}

void centred_uniform(const BlockBatch& b, std::size_t n, double (&v)[4][kBatch]) {
    const double sqrt3 = std::sqrt(3.0);
    for (int j = 0; j < 4; ++j)
        for (std::size_t i = 0; i < n; ++i) v[j][i] = sqrt3 * (2.0 * open_unit(b.w[j][i]) - 1.0);
}

}  // namespace

PhiloxBlock philox4x32_10(PhiloxBlock counter, std::uint32_t k0, std::uint32_t k1) {
    BlockBatch b;
    const std::uint64_t seed = (std::uint64_t(k1) << 32) | k0;
    const std::uint64_t block = (std::uint64_t(counter[1]) << 32) | counter[0];
    // philox_batch takes (layer, stream) as counter words 2 and 3.
    philox_batch(seed, static_cast<Stream>(counter[3]), counter[2], block, 1, b);
    return {b.w[0][0], b.w[1][0], b.w[2][0], b.w[3][0]};
}

template <typename T>
void fill_normal(std::uint64_t seed, Stream stream, std::uint32_t layer, std::uint64_t first,
                 std::size_t count, T* out) {
    if constexpr (std::is_same_v<T, float>)
        fill_blocks(seed, stream, layer, first, count, out, box_muller_float);
    else
        fill_blocks(seed, stream, layer, first, count, out, box_muller);
}

template <typename T>
void fill_uniform_unit_variance(std::uint64_t seed, Stream stream, std::uint32_t layer,
                                std::uint64_t first, std::size_t count, T* out) {
    fill_blocks(seed, stream, layer, first, count, out, centred_uniform);
}

template void fill_normal<float>(std::uint64_t, Stream, std::uint32_t, std::uint64_t, std::size_t,
                                 float*);
template void fill_normal<double>(std::uint64_t, Stream, std::uint32_t, std::uint64_t, std::size_t,
                                  double*);
template void fill_uniform_unit_variance<float>(std::uint64_t, Stream, std::uint32_t, std::uint64_t,
                                                std::size_t, float*);
template void fill_uniform_unit_variance<double>(std::uint64_t, Stream, std::uint32_t,
                                                 std::uint64_t, std::size_t, double*);

}  // namespace gradatlas
