// The attention block: softmax attention of one head over one sequence,
// forward and backward, in plain loops (a head's products are T x T x d_h,
// small beside the projections). Every sum runs in double in a fixed order,
// so the result does not depend on the thread that computes it. Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace gradatlas::blocks {

// One head of one sequence: q, k, v point at token 0's slice of the head
// (T tokens, `stride` apart, d_h values each); o receives the head's output
// (same layout), probs the T x T attention matrix (row t: where token t looks).
struct HeadView {
    std::int64_t tokens;
    std::int64_t dim;     // d_h
    std::int64_t stride;  // distance between consecutive tokens in q, k, v
    std::int64_t out_stride;
};

// probs = softmax(q k^T / sqrt(d_h)) (row t over tokens <= t when causal),
// o = probs v. Returns the sum over rows of the rows' entropies (nats).
template <typename T>
double attention_forward(const HeadView& h, const T* q, const T* k, const T* v, bool causal,
                         T* probs, T* o) {
    const double inv_sqrt = 1.0 / std::sqrt(double(h.dim));
    double entropy = 0;
    for (std::int64_t t = 0; t < h.tokens; ++t) {
        T* p = probs + t * h.tokens;
        const std::int64_t seen = causal ? t + 1 : h.tokens;
        double top = -std::numeric_limits<double>::infinity();
        for (std::int64_t s = 0; s < seen; ++s) {
            double dot = 0;
            for (std::int64_t i = 0; i < h.dim; ++i)
                dot += double(q[t * h.stride + i]) * double(k[s * h.stride + i]);
            p[s] = T(dot * inv_sqrt);
            top = std::max(top, double(p[s]));
        }
        double sum = 0;
        for (std::int64_t s = 0; s < seen; ++s) sum += std::exp(double(p[s]) - top);
        double row_entropy = 0;
        for (std::int64_t s = 0; s < seen; ++s) {
            const double logit = double(p[s]) - top, e = std::exp(logit) / sum;
            p[s] = T(e);
            if (e > 0) row_entropy -= e * (logit - std::log(sum));
        }
        std::fill(p + seen, p + h.tokens, T(0));
        entropy += row_entropy;
        for (std::int64_t i = 0; i < h.dim; ++i) {
            double acc = 0;
            for (std::int64_t s = 0; s < seen; ++s)
                acc += double(p[s]) * double(v[s * h.stride + i]);
            o[t * h.out_stride + i] = T(acc);
        }
    }
    return entropy;
}

// From go (the gradient with respect to o, out_stride apart), the gradients
// with respect to q, k and v (gq, gk, gv: the head's slices, `stride` apart).
// scratch holds T (1 + d_h) values.
template <typename T>
void attention_backward(const HeadView& h, const T* q, const T* k, const T* v, const T* probs,
                        const T* go, T* gq, T* gk, T* gv, double* scratch) {
    const double inv_sqrt = 1.0 / std::sqrt(double(h.dim));
    const std::int64_t n = h.tokens;
    for (std::int64_t s = 0; s < n; ++s)
        for (std::int64_t i = 0; i < h.dim; ++i) {
            double acc = 0;  // gv_s = sum_t p_ts go_t
            for (std::int64_t t = 0; t < n; ++t)
                acc += double(probs[t * n + s]) * double(go[t * h.out_stride + i]);
            gv[s * h.stride + i] = T(acc);
        }
    double* gk_sum = scratch + n;  // gk in double until the end
    std::fill(gk_sum, gk_sum + n * h.dim, 0.0);
    for (std::int64_t t = 0; t < n; ++t) {
        const T* p = probs + t * n;
        double* gs = scratch;  // dl/dS_t. = p_t. (gp_t. - p_t . gp_t.) / sqrt(d_h)
        double weighted = 0;
        for (std::int64_t s = 0; s < n; ++s) {
            double gp = 0;
            for (std::int64_t i = 0; i < h.dim; ++i)
                gp += double(go[t * h.out_stride + i]) * double(v[s * h.stride + i]);
            gs[s] = gp;
            weighted += double(p[s]) * gp;
        }
        for (std::int64_t s = 0; s < n; ++s) gs[s] = double(p[s]) * (gs[s] - weighted) * inv_sqrt;
        for (std::int64_t i = 0; i < h.dim; ++i) {
            double acc = 0;
            for (std::int64_t s = 0; s < n; ++s) acc += gs[s] * double(k[s * h.stride + i]);
            gq[t * h.stride + i] = T(acc);
        }
        for (std::int64_t s = 0; s < n; ++s)  // gk_s += gs_s q_t, over t in order
            for (std::int64_t i = 0; i < h.dim; ++i)
                gk_sum[s * h.dim + i] += gs[s] * double(q[t * h.stride + i]);
    }
    for (std::int64_t s = 0; s < n; ++s)
        for (std::int64_t i = 0; i < h.dim; ++i) gk[s * h.stride + i] = T(gk_sum[s * h.dim + i]);
}

}  // namespace gradatlas::blocks
