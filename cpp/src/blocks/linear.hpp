// The linear map of a feed-forward layer, dense or convolutional: what the
// feed-forward chain (mlp.cpp) asks of it. The chain is compiled once per map;
// everything else (norm, activation, residual, heads, log space, checkpoints)
// is shared. Internal.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../buffer.hpp"
#include "../engine/feedforward_graph.hpp"
#include "../log_space.hpp"
#include "conv2d.hpp"
#include "dense.hpp"
#include "gradatlas/init.hpp"
#include "gradatlas/mlp.hpp"

namespace gradatlas::blocks {

// W_l = s_l Z_l with Z_l (n_l x n_{l-1}) the layer's standard matrix.
template <typename T>
struct DenseMap {
    const MlpGroup& g;
    static constexpr bool keeps_inputs = false;  // the weight gradient comes from Gram matrices

    std::int64_t n(std::int64_t l) const { return g.widths[std::size_t(l)]; }
    std::int64_t kernel_size(std::int64_t l) const { return n(l) * n(l - 1); }
    std::int64_t outputs(std::int64_t l) const { return n(l); }  // biases and norm channels
    void allocate(std::int64_t, int) {}
    void draw(std::int64_t l, T* z, int threads) {
        standard_weights(g.seed, g.dist, std::uint32_t(l), n(l), n(l - 1), z, threads);
    }
    template <class Scales>
    void forward(const Rows& rows, std::int64_t l, const T* x, const T* z, const T* bias,
                 Scales&& scales, T* h) {
        dense_forward(rows, x, n(l - 1), z, bias, n(l), scales, h);
    }
    template <class Scale>
    void backward(const Rows& rows, std::int64_t l, T* grad, const T* z, Scale&& scale, T* prev) {
        dense_backward(rows, grad, n(l), z, n(l - 1), scale, prev);
    }
};

// A 2-D convolution per layer (conv2d.hpp); rows hold pixels x channels. A
// layer reads and writes the channels of its edges (a concat's, side channels).
template <typename T>
struct Conv2dMap {
    const MlpGroup& g;
    std::vector<engine::LayerEdges> edges = engine::feedforward_edges(g);
    detail::Buffer<T> cols;  // im2col of every (backward) row
    std::vector<T> orthogonal, transposed, per_sample;
    // The weight gradient sums over positions: the chain keeps a_{l-1} for weight_gradient_grams.
    static constexpr bool keeps_inputs = true;

    // Layer l's convolution: its channels in and out, its kernel side.
    Conv2dShape shape(std::int64_t l) const {
        const std::int64_t kernel =
            g.conv.kernels.empty() ? g.conv.kernel : g.conv.kernels[std::size_t(l - 1)];
        const engine::LayerEdges& e = edges[std::size_t(l)];
        return {e.in_channels, e.out_channels, g.conv.height,
                g.conv.width,  kernel,         g.conv.circular};
    }
    std::int64_t kernel_size(std::int64_t l) const {
        return shape(l).out_channels * shape(l).patch();
    }
    std::int64_t outputs(std::int64_t l) const { return shape(l).out_channels; }
    // The largest im2col row over the layers.
    std::int64_t widest_patch() const {
        std::int64_t widest = 0;
        for (std::int64_t l = 1; l < std::int64_t(g.widths.size()); ++l)
            widest = std::max(widest, shape(l).patch());
        return widest;
    }
    void allocate(std::int64_t rows, int threads) {
        cols.resize(std::size_t(rows * g.conv.height * g.conv.width * widest_patch()), threads);
    }
    void draw(std::int64_t l, T* z, int threads) {
        draw_kernel(shape(l), g.seed, g.dist, g.conv.delta_orthogonal, std::uint32_t(l), z,
                    orthogonal, threads);
    }
    template <class Scales>
    void forward(const Rows& rows, std::int64_t l, const T* x, const T* z, const T* bias,
                 Scales&& scales, T* h) {
        conv_forward(rows, shape(l), x, z, bias, scales, h, cols.data());
    }
    template <class Scale>
    void backward(const Rows& rows, std::int64_t l, T* grad, const T* z, Scale&& scale, T* prev) {
        conv_backward(rows, shape(l), grad, z, scale, prev, cols.data());
    }
    // For each block of B backward rows (a head and configuration), the B x B Gram of the
    // per-sample kernel gradients D_b = G_b^T im2col(a_b) (G_b: the row's gradient with
    // respect to h, pixels x C_out; a_b: its forward row of a_{l-1}).
    void weight_gradient_grams(const Rows& rows, std::int64_t l, const T* grad, const T* inputs,
                               double* grams) {
        const Conv2dShape s = shape(l);
        const std::int64_t batch = rows.batch, p = s.pixels(), c = s.out_channels;
        const std::int64_t k = s.patch(), n = s.out_row(), d = c * k;
        transposed.resize(std::size_t(batch * c * p));
        per_sample.resize(std::size_t(batch * d));
        for (std::int64_t blk = rows.first / batch; blk < rows.end / batch; ++blk) {
            const std::int64_t config = blk % rows.configs;
            const Rows forward{config * batch, (config + 1) * batch, batch, rows.configs,
                               rows.threads};
            im2col(forward, s, inputs, cols.data());
            // One sample per thread: the products are small, and their bits do not depend on it.
#pragma omp parallel for schedule(static) num_threads(rows.threads)
            for (std::int64_t b = 0; b < batch; ++b) {
                T* gt = transposed.data() + b * c * p;
                detail::transpose(grad + (blk * batch + b) * n, p, c, gt, 1);
                detail::gemm_nn(c, k, p, gt, p, cols.data() + (config * batch + b) * p * k, k,
                                per_sample.data() + b * d, k, 1);
            }
            detail::gram(per_sample.data(), batch, d, grams + blk * batch * batch);
        }
    }
};

}  // namespace gradatlas::blocks
