// Channel slices of rows laid out pixels x channels (channel fastest): how a
// layer's input is concatenated from several earlier outputs along channels,
// and how its gradient is split back to them (YOLOv8's C2f). Internal.
#pragma once

#include <cstdint>

#include "../engine/unit_rows.hpp"
#include "rows.hpp"

namespace gradatlas::blocks {

// Where a slice sits: channels [at, at + count) of rows of `channels` per pixel.
struct ChannelSlice {
    std::int64_t channels;
    std::int64_t at;
};

// dst's slice = src's slice (both `count` channels) at every pixel of every row.
template <typename T>
void copy_channels(const Rows& rows, std::int64_t pixels, std::int64_t count, const T* src,
                   ChannelSlice from, T* dst, ChannelSlice to) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r)
        for (std::int64_t p = 0; p < pixels; ++p) {
            const T* in = src + (r * pixels + p) * from.channels + from.at;
            T* out = dst + (r * pixels + p) * to.channels + to.at;
            for (std::int64_t i = 0; i < count; ++i) out[i] = in[i];
        }
}

// dst's rows (`count` channels per pixel), each held at log10 scale
// dst_scale[r], plus src's slice of `count` channels, held at src_scale[r]:
// the sum at the larger scale, which becomes dst_scale[r] (engine::scaled_sum).
// dst is whole rows because its scale is per row. Gradients of one row that
// reached one output by two paths.
template <typename T>
void add_scaled_channels(const Rows& rows, std::int64_t pixels, std::int64_t count, const T* src,
                         ChannelSlice from, const double* src_scale, T* dst, double* dst_scale) {
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const engine::ScaledSum sum = engine::scaled_sum(dst_scale[r], src_scale[r]);
        dst_scale[r] = sum.top;
        if (!sum.combine) continue;
        const T f_dst = T(sum.f_a), f_src = T(sum.f_b);
        T* out = dst + r * pixels * count;
        for (std::int64_t p = 0; p < pixels; ++p) {
            const T* in = src + (r * pixels + p) * from.channels + from.at;
            for (std::int64_t i = 0; i < count; ++i)
                out[p * count + i] = f_dst * out[p * count + i] + f_src * in[i];
        }
    }
}

}  // namespace gradatlas::blocks
