// Branch-free building blocks the compiler vectorizes: bit-level helpers, a
// polynomial evaluator and exp for non-positive arguments in double and in
// float (libm's exp is a scalar call). Internal to the core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace gradatlas::detail {

// The unsigned integer as wide as T (float or double).
template <typename T>
using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

template <typename T>
inline Bits<T> to_bits(T x) {
    Bits<T> b;
    std::memcpy(&b, &x, sizeof b);
    return b;
}

template <typename T>
inline T from_bits(Bits<T> b) {
    T x;
    std::memcpy(&x, &b, sizeof x);
    return x;
}

// if_set where mask's bits are set, if_clear where they are not: a select as
// bit operations rather than a branch, so loops using it vectorize.
template <typename T>
inline T select_bits(Bits<T> mask, T if_set, T if_clear) {
    return from_bits<T>((to_bits(if_set) & mask) | (to_bits(if_clear) & ~mask));
}

// a < b ? if_less : otherwise, with select_bits.
template <typename T>
inline T select_less(T a, T b, T if_less, T otherwise) {
    return select_bits<T>(a < b ? ~Bits<T>(0) : Bits<T>(0), if_less, otherwise);
}

// c[0] + x (c[1] + x (c[2] + ...)), evaluated from the highest coefficient down
// (a fixed order of operations, unrolled by the compiler).
template <typename T, std::size_t N>
constexpr T horner(T x, const T (&c)[N]) {
    T p = c[N - 1];
    for (std::size_t i = N - 1; i-- > 0;) p = c[i] + x * p;
    return p;
}

// exp(y) = 2^k e^r with k = round(y / ln 2) and |r| <= ln(2)/2, e^r by its
// Taylor series to r^13 (truncation below 2e-17 relative); 2^k is built in the
// exponent bits. Arguments below -700 are clamped (the result is then < 1e-304,
// which rounds to 0 in float and is negligible against 1 in double).
inline double exp_nonpositive(double y) {
    constexpr double kLog2e = 1.4426950408889634074;
    constexpr double kLn2Hi = 6.93147180369123816490e-01;
    constexpr double kLn2Lo = 1.90821492927058770002e-10;
    constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52
    y = select_less(y, -700.0, -700.0, y);
    const double shifted = y * kLog2e + kMagic;
    const double k = shifted - kMagic;
    const std::uint64_t kbits = to_bits(shifted);
    const double r = (y - k * kLn2Hi) - k * kLn2Lo;
    static constexpr double kExpTaylor[] = {1.0,
                                            1.0,
                                            1.0 / 2,
                                            1.0 / 6,
                                            1.0 / 24,
                                            1.0 / 120,
                                            1.0 / 720,
                                            1.0 / 5040,
                                            1.0 / 40320,
                                            1.0 / 362880,
                                            1.0 / 3628800,
                                            1.0 / 39916800,
                                            1.0 / 479001600,
                                            1.0 / 6227020800.0};
    const double p = horner(r, kExpTaylor);
    // low bits of `shifted` hold k (two's complement); 2^k = bits (k + 1023) << 52
    return p * from_bits<double>((kbits + 1023) << 52);
}

// exp(y) for y <= 0 in float arithmetic, within ~2 float ulps, subnormal
// results included (rounded once): y = k ln 2 + r, |r| <= ln(2)/2, e^r by its
// Taylor series to r^7 (truncation below 6e-9 relative), and 2^k applied as
// 2^(k + 64) exactly, then 2^-64 with the one rounding a subnormal needs.
// Arguments below -104 give 0; NaN stays NaN.
inline float exp_nonpositive_f(float y) {
    constexpr float kLog2e = 1.44269504088896341f;
    constexpr float kLn2Hi = 0.693145751953125f;  // 16 bits: k * kLn2Hi is exact for |k| < 2^8
    constexpr float kLn2Lo = 1.42860682030941723212e-06f;
    constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    constexpr float kTwoPowMinus64 = 5.42101086242752217e-20f;
    y = select_less(y, -104.0f, -104.0f, y);
    const float shifted = y * kLog2e + kMagic;
    const float k = shifted - kMagic;
    const std::uint32_t kbits = to_bits(shifted);
    const float r = (y - k * kLn2Hi) - k * kLn2Lo;
    static constexpr float kExpTaylor[] = {1.0f,      1.0f,       1.0f / 2,   1.0f / 6,
                                           1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
    const float p = horner(r, kExpTaylor);
    // the low bits of `shifted` hold k (two's complement): 2^(k + 64) = (k + 64 + 127) << 23
    return (p * from_bits<float>(((kbits + 64u + 127u) & 0xffu) << 23)) * kTwoPowMinus64;
}

}  // namespace gradatlas::detail
