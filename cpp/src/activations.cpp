#include "gradatlas/activations.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "fast_exp.hpp"
#include "target_clones.hpp"

namespace gradatlas {
namespace {

constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;
constexpr double kTwoOverSqrtPi = 1.1283791670955125738961589031215;

template <typename T>
inline T logistic(T x) {
    // Written so that exp never overflows.
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
}

// logistic(x) and logistic(-x) with their bits, from the one exponential that
// both calls would take: e^{-|x|}.
template <typename T>
inline void logistic_both(T x, T& s, T& s_neg) {
    const T e = std::exp(-std::fabs(x));
    const T inv = T(1) / (T(1) + e), frac = e / (T(1) + e);
    s = x >= T(0) ? inv : frac;
    s_neg = x > T(0) ? frac : inv;  // -x >= 0 for x <= 0 (and -0)
}

// Applies f(x, phi&, dphi&) elementwise; the switch stays outside the loops.
template <typename T, typename F>
void elementwise(const T* h, T* phi, T* dphi, std::size_t n, F f) {
    for (std::size_t i = 0; i < n; ++i) {
        T p, d;
        f(h[i], p, d);
        if (phi) phi[i] = p;
        if (dphi) dphi[i] = d;
    }
}

// float32 tanh and sigmoid, the activations sweeps spend most time in: in float
// arithmetic (16 lanes to a 512-bit vector) from one exponential, within a few
// float ulps of the exact values (tests/test_core.py: relative 4e-7), including
// phi' far into the tails (e^{-2|x|} stays accurate down to subnormals).
GRADATLAS_CLONES
void tanh_float(const float* h, float* phi, float* dphi, std::size_t n) {
    // Below |x| = 0.4, 1 - e^{-2|x|} cancels: there the Taylor series of tanh to
    // x^15 (truncation below 3e-10 relative).
    static constexpr float kTanhTaylor[] = {
        1.0f,         -1.0f / 3,         2.0f / 15,          -17.0f / 315,
        62.0f / 2835, -1382.0f / 155925, 21844.0f / 6081075, -929569.0f / 638512875};
    for (std::size_t i = 0; i < n; ++i) {
        const float x = h[i];
        const float ax = std::fabs(x);
        const float e = detail::exp_nonpositive_f(-2.0f * ax);  // e^{-2|x|}
        const float inv = 1.0f / (1.0f + e);
        const float small = x * detail::horner(x * x, kTanhTaylor);
        const float big = std::copysign((1.0f - e) * inv, x);
        phi[i] = detail::select_less(ax, 0.4f, small, big);
        dphi[i] = 4.0f * e * inv * inv;
    }
}

GRADATLAS_CLONES
void sigmoid_float(const float* h, float* phi, float* dphi, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const float x = h[i];
        const float e = detail::exp_nonpositive_f(-std::fabs(x));  // e^{-|x|}
        const float inv = 1.0f / (1.0f + e);
        phi[i] = detail::select_less(x, 0.0f, e * inv, inv);
        dphi[i] = e * inv * inv;
    }
}

template <typename T>
void apply_activation_generic(Activation act, double param, const T* h, T* phi, T* dphi,
                              std::size_t n) {
    const T slope = static_cast<T>(param);
    switch (act) {
        case Activation::linear:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                p = x;
                d = T(1);
            });
        case Activation::relu:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                const bool on = x > T(0);
                p = on ? x : T(0);
                d = on ? T(1) : T(0);
            });
        case Activation::leaky_relu:
            return elementwise(h, phi, dphi, n, [slope](T x, T& p, T& d) {
                const bool on = x > T(0);
                p = on ? x : slope * x;
                d = on ? T(1) : slope;
            });
        case Activation::elu:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                if (x > T(0)) {
                    p = x;
                    d = T(1);
                } else {
                    p = std::expm1(x);
                    d = std::exp(x);
                }
            });
        case Activation::selu:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                const T scale = T(kSeluScale), alpha = T(kSeluAlpha);
                if (x > T(0)) {
                    p = scale * x;
                    d = scale;
                } else {
                    p = scale * alpha * std::expm1(x);
                    d = scale * alpha * std::exp(x);
                }
            });
        case Activation::gelu:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                const T cdf = T(0.5) * std::erfc(-x * T(kInvSqrt2));
                p = x * cdf;
                d = cdf + x * T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
            });
        case Activation::silu:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                T s, s_neg;
                logistic_both(x, s, s_neg);
                p = x * s;
                d = s * (T(1) + x * s_neg);
            });
        case Activation::softplus:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                p = x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
                d = logistic(x);
            });
        case Activation::sigmoid:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                // sigma(x) sigma(-x): no cancellation in 1 - sigma for large x,
                // which matters once gradients are kept in log space.
                T s_neg;
                logistic_both(x, p, s_neg);
                d = p * s_neg;
            });
        case Activation::tanh:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                // One exponential gives both, with e = e^{-2|x|}: tanh|x| = (1 - e) / (1 + e)
                // and sech^2 x = 4e / (1 + e)^2, accurate in the tails (where
                // 1 - tanh^2 would be 0 rather than ~4e^{-2|x|}). Near 0, 1 - e comes
                // from expm1 to avoid cancellation.
                const T ax = std::fabs(x);
                T one_minus_e, e;
                if (ax < T(0.5)) {
                    one_minus_e = -std::expm1(T(-2) * ax);
                    e = T(1) - one_minus_e;
                } else {
                    e = std::exp(T(-2) * ax);
                    one_minus_e = T(1) - e;
                }
                const T t = one_minus_e / (T(1) + e);
                p = x < T(0) ? -t : t;
                d = T(4) * e / ((T(1) + e) * (T(1) + e));
            });
        case Activation::hard_tanh:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                const bool inside = x > T(-1) && x < T(1);
                p = x < T(-1) ? T(-1) : (x > T(1) ? T(1) : x);
                d = inside ? T(1) : T(0);
            });
        case Activation::erf:
            return elementwise(h, phi, dphi, n, [](T x, T& p, T& d) {
                p = std::erf(x);
                d = T(kTwoOverSqrtPi) * std::exp(-x * x);
            });
    }
    throw std::invalid_argument("unknown activation code " + std::to_string(int(act)));
}

}  // namespace

template <>
void apply_activation<double>(Activation act, double param, const double* h, double* phi,
                              double* dphi, std::size_t n) {
    apply_activation_generic(act, param, h, phi, dphi, n);
}

template <>
void apply_activation<float>(Activation act, double param, const float* h, float* phi, float* dphi,
                             std::size_t n) {
    if (phi && dphi && act == Activation::tanh) return tanh_float(h, phi, dphi, n);
    if (phi && dphi && act == Activation::sigmoid) return sigmoid_float(h, phi, dphi, n);
    // The others in double, rounded once: float libm functions are off by a few
    // ulps, and more where an argument like x^2 is itself rounded in float.
    constexpr std::size_t kChunk = 256;
    double hd[kChunk], pd[kChunk], dd[kChunk];
    for (std::size_t first = 0; first < n; first += kChunk) {
        const std::size_t m = std::min(kChunk, n - first);
        for (std::size_t i = 0; i < m; ++i) hd[i] = h[first + i];
        apply_activation_generic(act, param, hd, phi ? pd : nullptr, dphi ? dd : nullptr, m);
        for (std::size_t i = 0; i < m; ++i) {
            if (phi) phi[first + i] = float(pd[i]);
            if (dphi) dphi[first + i] = float(dd[i]);
        }
    }
}

}  // namespace gradatlas
