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

// The loops below keep every sum in a fixed order (over the head's dimension
// or over tokens, as written) with the innermost loop running over
// contiguous, independent outputs, so that compilers vectorize them without
// reassociating anything: the bits do not depend on the vector width.

// out (n x m) = the transpose of the n-row, m-column block of x with row stride `stride`, in
// double.
template <typename T>
void transposed(const T* x, std::int64_t rows, std::int64_t cols, std::int64_t stride,
                double* out) {
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) out[c * rows + r] = double(x[r * stride + c]);
}

// probs = softmax(q k^T / sqrt(d_h)) (row t over tokens <= t when causal),
// o = probs v. Returns the sum over rows of the rows' entropies (nats).
// scratch holds T (2 + d_h) + d_h values.
template <typename T>
double attention_forward(const HeadView& h, const T* q, const T* k, const T* v, bool causal,
                         T* probs, T* o, double* scratch) {
    const std::int64_t n = h.tokens, dim = h.dim;
    const double inv_sqrt = 1.0 / std::sqrt(double(dim));
    double* kt = scratch;        // k^T (d_h x T)
    double* row = kt + dim * n;  // one row of scores
    double* acc = row + n;       // one row of o
    transposed(k, n, dim, h.stride, kt);
    double entropy = 0;
    for (std::int64_t t = 0; t < n; ++t) {
        const std::int64_t seen = causal ? t + 1 : n;
        std::fill(row, row + seen, 0.0);
        for (std::int64_t i = 0; i < dim; ++i) {
            const double qi = double(q[t * h.stride + i]);
            const double* ki = kt + i * n;
            for (std::int64_t s = 0; s < seen; ++s) row[s] += qi * ki[s];
        }
        double top = -std::numeric_limits<double>::infinity();
        for (std::int64_t s = 0; s < seen; ++s) {
            row[s] *= inv_sqrt;
            top = std::max(top, row[s]);
        }
        double sum = 0;
        for (std::int64_t s = 0; s < seen; ++s) sum += std::exp(row[s] - top);
        const double log_sum = std::log(sum);
        T* p = probs + t * n;
        double row_entropy = 0;
        for (std::int64_t s = 0; s < seen; ++s) {
            const double log_p = row[s] - top - log_sum, e = std::exp(log_p);
            p[s] = T(e);
            row_entropy -= e * log_p;
        }
        std::fill(p + seen, p + n, T(0));
        entropy += row_entropy;
        std::fill(acc, acc + dim, 0.0);
        for (std::int64_t s = 0; s < seen; ++s) {
            const double ps = double(p[s]);
            const T* vs = v + s * h.stride;
            for (std::int64_t i = 0; i < dim; ++i) acc[i] += ps * double(vs[i]);
        }
        for (std::int64_t i = 0; i < dim; ++i) o[t * h.out_stride + i] = T(acc[i]);
    }
    return entropy;
}

// From go (the gradient with respect to o, out_stride apart), the gradients
// with respect to q, k and v (gq, gk, gv: the head's slices, `stride` apart).
// scratch holds T (3 d_h + 2) + 2 d_h values.
template <typename T>
void attention_backward(const HeadView& h, const T* q, const T* k, const T* v, const T* probs,
                        const T* go, T* gq, T* gk, T* gv, double* scratch) {
    const std::int64_t n = h.tokens, dim = h.dim;
    const double inv_sqrt = 1.0 / std::sqrt(double(dim));
    double* vt = scratch;               // v^T (d_h x T)
    double* gk_sum = vt + dim * n;      // gk (T x d_h), summed over t in order
    double* gv_sum = gk_sum + n * dim;  // gv (T x d_h), summed over t in order
    double* gs = gv_sum + n * dim;      // dl/dS of one row
    double* acc = gs + n;               // one row of gq
    transposed(v, n, dim, h.stride, vt);
    std::fill(gk_sum, gk_sum + 2 * n * dim, 0.0);
    for (std::int64_t t = 0; t < n; ++t) {
        const T* p = probs + t * n;
        const T* got = go + t * h.out_stride;
        // gs_s = p_ts (go_t . v_s - sum_s' p_ts' go_t . v_s') / sqrt(d_h)
        std::fill(gs, gs + n, 0.0);
        for (std::int64_t i = 0; i < dim; ++i) {
            const double gi = double(got[i]);
            const double* vi = vt + i * n;
            for (std::int64_t s = 0; s < n; ++s) gs[s] += gi * vi[s];
        }
        double weighted = 0;
        for (std::int64_t s = 0; s < n; ++s) weighted += double(p[s]) * gs[s];
        for (std::int64_t s = 0; s < n; ++s) gs[s] = double(p[s]) * (gs[s] - weighted) * inv_sqrt;
        std::fill(acc, acc + dim, 0.0);
        const T* qt = q + t * h.stride;
        for (std::int64_t s = 0; s < n; ++s) {
            const double g = gs[s], ps = double(p[s]);
            const T* ks = k + s * h.stride;
            double* gks = gk_sum + s * dim;
            double* gvs = gv_sum + s * dim;
            for (std::int64_t i = 0; i < dim; ++i) {
                acc[i] += g * double(ks[i]);    // gq_t = sum_s gs_s k_s
                gks[i] += g * double(qt[i]);    // gk_s += gs_s q_t
                gvs[i] += ps * double(got[i]);  // gv_s += p_ts go_t
            }
        }
        for (std::int64_t i = 0; i < dim; ++i) gq[t * h.stride + i] = T(acc[i]);
    }
    for (std::int64_t s = 0; s < n; ++s)
        for (std::int64_t i = 0; i < dim; ++i) {
            gk[s * h.stride + i] = T(gk_sum[s * dim + i]);
            gv[s * h.stride + i] = T(gv_sum[s * dim + i]);
        }
}

}  // namespace gradatlas::blocks
