// The normalization block: batch norm (per unit over a configuration's
// samples) or layer norm (per sample over units), without affine parameters,
// or nothing, as each configuration chooses (arithmetic in
// ../normalization.hpp). Internal.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../normalization.hpp"
#include "gradatlas/mlp.hpp"
#include "rows.hpp"

namespace gradatlas::blocks {

// ht = N(h) for the forward rows; norm_of(c) gives configuration c's Norm.
// Rows hold positions x channels values, channel fastest (a dense layer: one
// position, channels = n; a convolution: pixels x channels). Layer norm
// normalizes a row; batch norm each channel over the configuration's samples
// and positions, as BatchNorm1d/2d in training mode. inv_std_rows (one per
// row) and inv_std_units (configs x channels) keep what the backward pass needs.
template <typename T, class NormOf>
void norm_forward(const Rows& rows, const T* h, T* ht, std::int64_t n, std::int64_t channels,
                  double eps, NormOf&& norm_of, double* inv_std_rows, double* inv_std_units) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const T* hr = h + r * n;
        T* out = ht + r * n;
        switch (norm_of(rows.config_of(r))) {
            case Norm::layer:
                inv_std_rows[r] = detail::normalize_strided(hr, out, n, 1, eps);
                break;
            case Norm::none:
                std::copy(hr, hr + n, out);
                break;
            case Norm::batch:
                break;  // below
        }
    }
    // Batch norm: per channel over the samples and the row's positions (n / channels).
    const std::int64_t values = rows.batch * (n / channels);
    for (std::int64_t c = 0; c < rows.configs; ++c) {
        if (norm_of(c) != Norm::batch) continue;
        const T* hc = h + c * rows.batch * n;
        T* out = ht + c * rows.batch * n;
#pragma omp parallel for schedule(static) num_threads(rows.threads)
        for (std::int64_t i = 0; i < channels; i += detail::kChannelBlock)
            detail::normalize_channels(hc + i, out + i, values, channels,
                                       std::min(detail::kChannelBlock, channels - i), eps,
                                       inv_std_units + c * channels + i);
    }
}

// g (the backward rows) becomes the gradient with respect to h from that with
// respect to N(h); ht and the inverse standard deviations are the forward
// rows'. Batch norm mixes a configuration's samples, so its rows must share
// one log scale (see the chain's align step) and rows.first must start a block
// of batch rows.
template <typename T, class NormOf>
void norm_backward(const Rows& rows, const T* ht, T* g, std::int64_t n, std::int64_t channels,
                   NormOf&& norm_of, const double* inv_std_rows, const double* inv_std_units) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r)
        if (norm_of(rows.config_of(r)) == Norm::layer) {
            const std::int64_t fr = rows.forward_row(r);
            detail::normalize_backward_strided(ht + fr * n, g + r * n, n, 1, inv_std_rows[fr]);
        }
    const std::int64_t values = rows.batch * (n / channels);
    for (std::int64_t blk = rows.first / rows.batch; blk < rows.end / rows.batch; ++blk) {
        const std::int64_t c = blk % rows.configs;
        if (norm_of(c) != Norm::batch) continue;
        const T* htc = ht + c * rows.batch * n;
        T* gb = g + blk * rows.batch * n;
#pragma omp parallel for schedule(static) num_threads(rows.threads)
        for (std::int64_t i = 0; i < channels; i += detail::kChannelBlock)
            detail::normalize_backward_channels(htc + i, gb + i, values, channels,
                                                std::min(detail::kChannelBlock, channels - i),
                                                inv_std_units + c * channels + i);
    }
}

}  // namespace gradatlas::blocks
