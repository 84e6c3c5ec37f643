// Batch norm and layer norm without affine parameters, forward and backward.
// Internal to the core. Both normalize a set of values x_1..x_m (the batch of
// one unit for batch norm, the units of one sample for layer norm):
//   xhat = (x - mean) / sqrt(var + eps),  var biased (divides by m), as PyTorch.
// Backward (exact Jacobian transpose of the map above):
//   dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)).
// RMS norm (the transformer's other choice) does not centre:
//   xhat = x / sqrt(mean(x^2) + eps),  dx = inv_rms * (g - xhat * mean(g * xhat)).
#pragma once

#include <cmath>
#include <cstdint>

namespace gradatlas::detail {

// Normalizes m values read and written with a stride; returns inv_std.
template <typename T>
double normalize_strided(const T* x, T* xhat, std::int64_t m, std::int64_t stride, double eps) {
    double mean = 0;
    for (std::int64_t i = 0; i < m; ++i) mean += double(x[i * stride]);
    mean /= double(m);
    double var = 0;
    for (std::int64_t i = 0; i < m; ++i) {
        const double d = double(x[i * stride]) - mean;
        var += d * d;
    }
    var /= double(m);
    const double inv_std = 1.0 / std::sqrt(var + eps);
    for (std::int64_t i = 0; i < m; ++i)
        xhat[i * stride] = static_cast<T>((double(x[i * stride]) - mean) * inv_std);
    return inv_std;
}

// In place: g (gradient w.r.t. xhat) becomes the gradient w.r.t. x.
template <typename T>
void normalize_backward_strided(const T* xhat, T* g, std::int64_t m, std::int64_t stride,
                                double inv_std) {
    double mean_g = 0, mean_gx = 0;
    for (std::int64_t i = 0; i < m; ++i) {
        mean_g += double(g[i * stride]);
        mean_gx += double(g[i * stride]) * double(xhat[i * stride]);
    }
    mean_g /= double(m);
    mean_gx /= double(m);
    for (std::int64_t i = 0; i < m; ++i) {
        const double v =
            inv_std * (double(g[i * stride]) - mean_g - double(xhat[i * stride]) * mean_gx);
        g[i * stride] = static_cast<T>(v);
    }
}

// Batch norm's channels side by side: normalize_strided for the `count`
// (<= kChannelBlock) adjacent channels x + j, each with the same sums in the
// same order, so the bits are those of one channel at a time; the loads are
// contiguous and the channels' adds independent. inv_std[j] gets channel j's.
constexpr std::int64_t kChannelBlock = 16;

template <typename T>
void normalize_channels(const T* x, T* xhat, std::int64_t m, std::int64_t stride,
                        std::int64_t count, double eps, double* inv_std) {
    double mean[kChannelBlock] = {}, var[kChannelBlock] = {};
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < count; ++j) mean[j] += double(x[i * stride + j]);
    for (std::int64_t j = 0; j < count; ++j) mean[j] /= double(m);
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < count; ++j) {
            const double d = double(x[i * stride + j]) - mean[j];
            var[j] += d * d;
        }
    for (std::int64_t j = 0; j < count; ++j) inv_std[j] = 1.0 / std::sqrt(var[j] / double(m) + eps);
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < count; ++j)
            xhat[i * stride + j] =
                static_cast<T>((double(x[i * stride + j]) - mean[j]) * inv_std[j]);
}

// normalize_backward_strided for `count` adjacent channels side by side (as above).
template <typename T>
void normalize_backward_channels(const T* xhat, T* g, std::int64_t m, std::int64_t stride,
                                 std::int64_t count, const double* inv_std) {
    double mean_g[kChannelBlock] = {}, mean_gx[kChannelBlock] = {};
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < count; ++j) {
            mean_g[j] += double(g[i * stride + j]);
            mean_gx[j] += double(g[i * stride + j]) * double(xhat[i * stride + j]);
        }
    for (std::int64_t j = 0; j < count; ++j) {
        mean_g[j] /= double(m);
        mean_gx[j] /= double(m);
    }
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < count; ++j) {
            const double v = inv_std[j] * (double(g[i * stride + j]) - mean_g[j] -
                                           double(xhat[i * stride + j]) * mean_gx[j]);
            g[i * stride + j] = static_cast<T>(v);
        }
}

// RMS norm of m contiguous values; returns inv_rms.
template <typename T>
double rms_normalize(const T* x, T* xhat, std::int64_t m, double eps) {
    double sq = 0;
    for (std::int64_t i = 0; i < m; ++i) sq += double(x[i]) * double(x[i]);
    const double inv_rms = 1.0 / std::sqrt(sq / double(m) + eps);
    for (std::int64_t i = 0; i < m; ++i) xhat[i] = static_cast<T>(double(x[i]) * inv_rms);
    return inv_rms;
}

// In place: g (gradient w.r.t. xhat) becomes the gradient w.r.t. x.
template <typename T>
void rms_normalize_backward(const T* xhat, T* g, std::int64_t m, double inv_rms) {
    double mean_gx = 0;
    for (std::int64_t i = 0; i < m; ++i) mean_gx += double(g[i]) * double(xhat[i]);
    mean_gx /= double(m);
    for (std::int64_t i = 0; i < m; ++i)
        g[i] = static_cast<T>(inv_rms * (double(g[i]) - double(xhat[i]) * mean_gx));
}

}  // namespace gradatlas::detail
