// The convolution block: a 2-D convolution with stride 1 and same padding
// (zeros or circular) over images whose rows hold pixels x channels values,
// channel fastest. The kernel Z (C_out x K*K*C_in, taps t = dy * K + dx, then
// input channels) is the layer's standard matrix, shared by every
// configuration of a group, and each configuration scales it:
//   h[p][co] = s sum_{t, ci} Z[co][t C_in + ci] x[p + offset(t)][ci] + t_b z[co],
// as torch.nn.functional.conv2d (a cross-correlation) with padding K // 2.
// The sums are one product over the im2col matrix (rows x pixels, K*K*C_in),
// so each element keeps the products' fixed chain of operations. Internal.
#pragma once

#include <cstdint>
#include <vector>

#include "gradatlas/det_gemm.hpp"
#include "gradatlas/init.hpp"
#include "rows.hpp"

namespace gradatlas::blocks {

struct Conv2dShape {
    std::int64_t in_channels;
    std::int64_t out_channels;
    std::int64_t height;
    std::int64_t width;
    std::int64_t kernel;  // odd
    bool circular;

    std::int64_t pixels() const { return height * width; }
    std::int64_t taps() const { return kernel * kernel; }
    std::int64_t in_row() const { return pixels() * in_channels; }    // values per input row
    std::int64_t out_row() const { return pixels() * out_channels; }  // values per output row
    std::int64_t patch() const { return taps() * in_channels; }       // im2col columns

    // The pixel tap t of pixel p reads, or -1 where it falls in the zero padding.
    std::int64_t source(std::int64_t p, std::int64_t t) const {
        const std::int64_t half = kernel / 2;
        std::int64_t y = p / width + t / kernel - half, x = p % width + t % kernel - half;
        if (circular) {
            y = (y % height + height) % height;
            x = (x % width + width) % width;
        } else if (y < 0 || y >= height || x < 0 || x >= width) {
            return -1;
        }
        return y * width + x;
    }
};

// Z_l (C_out x K*K*C_in): drawn from the layer's standard matrix of the
// group's distribution, or delta-orthogonal (Xiao et al. 2018): the centre tap
// a Haar (semi-)orthogonal C_out x C_in matrix (the orthogonal init's draw),
// every other tap 0.
template <typename T>
void draw_kernel(const Conv2dShape& s, std::uint64_t seed, WeightDist dist, bool delta_orthogonal,
                 std::uint32_t layer, T* z, std::vector<T>& scratch, int threads) {
    const std::int64_t co_n = s.out_channels, ci_n = s.in_channels, k = s.patch();
    if (!delta_orthogonal) {
        standard_weights(seed, dist, layer, co_n, k, z, threads);
        return;
    }
    scratch.resize(std::size_t(co_n * ci_n));
    standard_weights(seed, WeightDist::orthogonal, layer, co_n, ci_n, scratch.data(), threads);
    const std::int64_t centre = s.taps() / 2;
    for (std::int64_t co = 0; co < co_n; ++co)
        for (std::int64_t j = 0; j < k; ++j)
            z[co * k + j] = j / ci_n == centre ? scratch[std::size_t(co * ci_n + j % ci_n)] : T(0);
}

// cols (rows x pixels, K*K*C): every pixel's patch.
template <typename T>
void im2col(const Rows& rows, const Conv2dShape& s, const T* x, T* cols) {
    const std::int64_t c = s.in_channels, n = s.in_row(), k = s.patch();
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r)
        for (std::int64_t p = 0; p < s.pixels(); ++p) {
            T* out = cols + (r * s.pixels() + p) * k;
            for (std::int64_t t = 0; t < s.taps(); ++t) {
                const std::int64_t q = s.source(p, t);
                for (std::int64_t ci = 0; ci < c; ++ci)
                    out[t * c + ci] = q < 0 ? T(0) : x[r * n + q * c + ci];
            }
        }
}

// The transpose of im2col: prev[q][ci] = sum over the (pixel, tap) pairs that
// read input pixel q, taps in order (one fixed chain per element).
template <typename T>
void col2im(const Rows& rows, const Conv2dShape& s, const T* cols, T* prev) {
    const std::int64_t c = s.in_channels, n = s.in_row(), k = s.patch();
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        T* out = prev + r * n;
        for (std::int64_t i = 0; i < n; ++i) out[i] = T(0);
        for (std::int64_t q = 0; q < s.pixels(); ++q)
            for (std::int64_t t = 0; t < s.taps(); ++t) {
                // The pixel p whose tap t reads q: p = q - offset(t) (wrapped, or outside).
                const std::int64_t mirror = s.taps() - 1 - t;  // offset(mirror) = -offset(t)
                const std::int64_t p = s.source(q, mirror);
                if (p < 0 || s.source(p, t) != q) continue;
                const T* in = cols + (r * s.pixels() + p) * k + t * c;
                for (std::int64_t ci = 0; ci < c; ++ci) out[q * c + ci] += in[ci];
            }
    }
}

// h = s conv(x; Z) + t bias for every row; scales(c) gives (s, t) of configuration c.
template <typename T, class Scales>
void conv_forward(const Rows& rows, const Conv2dShape& s, const T* x, const T* z, const T* bias,
                  Scales&& scales, T* h, T* cols) {
    im2col(rows, s, x, cols);
    const std::int64_t c = s.out_channels, k = s.patch(), m = rows.count() * s.pixels();
    detail::gemm_nt(m, c, k, cols + rows.first * s.pixels() * k, k, z, k,
                    h + rows.first * s.out_row(), c, rows.threads);
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const auto [s_, t_] = scales(rows.config_of(r));
        const T scale = T(s_), shift = T(t_);
        T* hr = h + r * s.out_row();
        for (std::int64_t p = 0; p < s.pixels(); ++p)
            for (std::int64_t co = 0; co < c; ++co)
                hr[p * c + co] = scale * hr[p * c + co] + shift * bias[co];
    }
}

// prev = the gradient with respect to the block's input from g, that with
// respect to h (scaled in place by s); scale(c) gives s.
template <typename T, class Scale>
void conv_backward(const Rows& rows, const Conv2dShape& s, T* g, const T* z, Scale&& scale, T* prev,
                   T* cols) {
    const std::int64_t c = s.out_channels, k = s.patch(), n = s.out_row(),
                       m = rows.count() * s.pixels();
#pragma omp parallel for schedule(static) num_threads(rows.threads)
    for (std::int64_t r = rows.first; r < rows.end; ++r) {
        const T f = T(scale(rows.config_of(r)));
        for (std::int64_t i = 0; i < n; ++i) g[r * n + i] *= f;
    }
    detail::gemm_nn(m, k, c, g + rows.first * n, c, z, k, cols + rows.first * s.pixels() * k, k,
                    rows.threads);
    col2im(rows, s, cols, prev);
}

}  // namespace gradatlas::blocks
