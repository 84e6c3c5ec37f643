#include "cell_backward.hpp"

#include "../target_clones.hpp"

namespace gradatlas::detail {
namespace {

template <typename T>
inline __attribute__((always_inline)) void lstm_impl(T s, std::int64_t n, const T* cache,
                                                     const T* __restrict vh, T* __restrict vc,
                                                     T* __restrict dc, T* __restrict p) {
    // [i f g o | i' f' g' o' | c_{t-1} | tanh c_t | tanh' c_t | h]
    const T* __restrict gi = cache;
    const T* __restrict gf = cache + n;
    const T* __restrict gg = cache + 2 * n;
    const T* __restrict go = cache + 3 * n;
    const T* __restrict di = cache + 4 * n;
    const T* __restrict df = cache + 5 * n;
    const T* __restrict dg = cache + 6 * n;
    const T* __restrict d_o = cache + 7 * n;
    const T* __restrict c_prev = cache + 8 * n;
    const T* __restrict tanh_c = cache + 9 * n;
    const T* __restrict dtanh_c = cache + 10 * n;
    T* __restrict pi = p;
    T* __restrict pf = p + n;
    T* __restrict pg = p + 2 * n;
    T* __restrict po = p + 3 * n;
    for (std::int64_t i = 0; i < n; ++i) {
        const T d = vc[i] + vh[i] * go[i] * dtanh_c[i];
        dc[i] = d;
        pi[i] = s * (d * gg[i] * di[i]);
        pf[i] = s * (d * c_prev[i] * df[i]);
        pg[i] = s * (d * gi[i] * dg[i]);
        po[i] = s * (vh[i] * tanh_c[i] * d_o[i]);
        vc[i] = d * gf[i];
    }
}

template <typename T>
inline __attribute__((always_inline)) void gru_impl(T s, std::int64_t n, const T* cache,
                                                    T* __restrict vh, T* __restrict p) {
    // [r z n | r' z' n' | W_hn h_{t-1} (scaled) | h_{t-1} | h]
    const T* __restrict gr = cache;
    const T* __restrict gz = cache + n;
    const T* __restrict gn = cache + 2 * n;
    const T* __restrict dr = cache + 3 * n;
    const T* __restrict dz = cache + 4 * n;
    const T* __restrict dn = cache + 5 * n;
    const T* __restrict hn = cache + 6 * n;
    const T* __restrict h_prev = cache + 7 * n;
    T* __restrict pr = p;
    T* __restrict pz = p + n;
    T* __restrict pn = p + 2 * n;
    for (std::int64_t i = 0; i < n; ++i) {
        const T z = gz[i], nv = gn[i];
        const T dpre_n = vh[i] * (T(1) - z) * dn[i];
        pr[i] = s * (dpre_n * hn[i] * dr[i]);
        pz[i] = s * (vh[i] * (h_prev[i] - nv) * dz[i]);
        pn[i] = s * (dpre_n * gr[i]);
        vh[i] = vh[i] * z;
    }
}

}  // namespace

GRADATLAS_CLONES void lstm_backward_row(float s, std::int64_t n, const float* cache,
                                        const float* vh, float* vc, float* dc, float* p) {
    lstm_impl(s, n, cache, vh, vc, dc, p);
}
GRADATLAS_CLONES void lstm_backward_row(double s, std::int64_t n, const double* cache,
                                        const double* vh, double* vc, double* dc, double* p) {
    lstm_impl(s, n, cache, vh, vc, dc, p);
}
GRADATLAS_CLONES void gru_backward_row(float s, std::int64_t n, const float* cache, float* vh,
                                       float* p) {
    gru_impl(s, n, cache, vh, p);
}
GRADATLAS_CLONES void gru_backward_row(double s, std::int64_t n, const double* cache, double* vh,
                                       double* p) {
    gru_impl(s, n, cache, vh, p);
}

}  // namespace gradatlas::detail
