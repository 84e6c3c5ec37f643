#include "gradatlas/init.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "gradatlas/blas.hpp"
#include "gradatlas/rng.hpp"

namespace gradatlas {

namespace {

// Each thread fills a contiguous chunk; every element is a pure function of its index.
template <typename T, typename Fill>
void fill_parallel(std::size_t count, int n_threads, T* out, Fill fill) {
    const std::int64_t chunks =
        std::max<std::int64_t>(1, std::min<std::int64_t>(n_threads, std::int64_t(count / 4096)));
#pragma omp parallel for schedule(static) num_threads(int(chunks))
    for (std::int64_t t = 0; t < chunks; ++t) {
        const std::size_t first = count * std::size_t(t) / std::size_t(chunks);
        const std::size_t last = count * std::size_t(t + 1) / std::size_t(chunks);
        fill(first, last - first, out + first);
    }
}

}  // namespace

template <typename T>
void standard_weights(std::uint64_t seed, WeightDist dist, std::uint32_t layer, std::int64_t n_out,
                      std::int64_t n_in, T* out, int n_threads) {
    const auto count = static_cast<std::size_t>(n_out * n_in);
    switch (dist) {
        case WeightDist::normal:
            return fill_parallel(count, n_threads, out,
                                 [&](std::size_t first, std::size_t n, T* o) {
                                     fill_normal(seed, Stream::weights, layer, first, n, o);
                                 });
        case WeightDist::uniform:
            return fill_parallel(
                count, n_threads, out, [&](std::size_t first, std::size_t n, T* o) {
                    fill_uniform_unit_variance(seed, Stream::weights, layer, first, n, o);
                });
        case WeightDist::orthogonal: {
            // QR always in double so float32 and float64 runs share one Q up to rounding.
            std::vector<double> g(count);
            fill_normal(seed, Stream::orthogonal, layer, 0, count, g.data());
            blas::orthonormalize(g.data(), n_out, n_in);
            for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(g[i]);
            return;
        }
    }
    throw std::invalid_argument("unknown weight distribution code " + std::to_string(int(dist)));
}

template <typename T>
void standard_biases(std::uint64_t seed, std::uint32_t layer, std::int64_t n_out, T* out) {
    fill_normal(seed, Stream::biases, layer, 0, static_cast<std::size_t>(n_out), out);
}

template <typename T>
void standard_inputs(std::uint64_t seed, std::int64_t batch, std::int64_t n_in, double input_std,
                     T* out) {
    const auto count = static_cast<std::size_t>(batch * n_in);
    std::vector<double> z(count);
    fill_normal(seed, Stream::inputs, 0, 0, count, z.data());
    for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(input_std * z[i]);
}

template <typename T>
void standard_projections(std::uint64_t seed, std::int64_t batch, std::int64_t n_out, T* out) {
    fill_normal(seed, Stream::projections, 0, 0, static_cast<std::size_t>(batch * n_out), out);
}

#define GRADATLAS_INSTANTIATE(T)                                                              \
    template void standard_weights<T>(std::uint64_t, WeightDist, std::uint32_t, std::int64_t, \
                                      std::int64_t, T*, int);                                 \
    template void standard_biases<T>(std::uint64_t, std::uint32_t, std::int64_t, T*);         \
    template void standard_inputs<T>(std::uint64_t, std::int64_t, std::int64_t, double, T*);  \
    template void standard_projections<T>(std::uint64_t, std::int64_t, std::int64_t, T*);
GRADATLAS_INSTANTIATE(float)
GRADATLAS_INSTANTIATE(double)
#undef GRADATLAS_INSTANTIATE

}  // namespace gradatlas
