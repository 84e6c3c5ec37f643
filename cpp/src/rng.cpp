#include "gradatlas/rng.hpp"

#include <algorithm>
#include <cmath>

namespace gradatlas {
namespace {

constexpr std::uint32_t kMul0 = 0xD2511F53u;
constexpr std::uint32_t kMul1 = 0xCD9E8D57u;
constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;
constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;
constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr double kTwoPow32Inv = 1.0 / 4294967296.0;

// Blocks are produced in batches, structure-of-arrays, so the rounds vectorize.
constexpr std::size_t kBatch = 64;

struct BlockBatch {
    std::uint32_t w[4][kBatch];
};

void philox_batch(std::uint64_t seed, Stream stream, std::uint32_t layer,
                  std::uint64_t first_block, std::size_t n, BlockBatch& out) {
    const auto k0_init = static_cast<std::uint32_t>(seed);
    const auto k1_init = static_cast<std::uint32_t>(seed >> 32);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t block = first_block + i;
        std::uint32_t c0 = static_cast<std::uint32_t>(block);
        std::uint32_t c1 = static_cast<std::uint32_t>(block >> 32);
        std::uint32_t c2 = layer;
        std::uint32_t c3 = static_cast<std::uint32_t>(stream);
        std::uint32_t k0 = k0_init, k1 = k1_init;
        for (int round = 0; round < 10; ++round) {
            const std::uint64_t p0 = std::uint64_t(kMul0) * c0;
            const std::uint64_t p1 = std::uint64_t(kMul1) * c2;
            const auto hi0 = static_cast<std::uint32_t>(p0 >> 32);
            const auto lo0 = static_cast<std::uint32_t>(p0);
            const auto hi1 = static_cast<std::uint32_t>(p1 >> 32);
            const auto lo1 = static_cast<std::uint32_t>(p1);
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += kWeyl0;
            k1 += kWeyl1;
        }
        out.w[0][i] = c0;
        out.w[1][i] = c1;
        out.w[2][i] = c2;
        out.w[3][i] = c3;
    }
}

// Uniform on (0, 1): never 0, so log() below is finite.
inline double open_unit(std::uint32_t w) { return (double(w) + 0.5) * kTwoPow32Inv; }

// Calls emit(block_index_within_batch, values[4]) for every block overlapping
// [first, first + count) and copies the requested elements to out.
template <typename T, typename Transform>
void fill_blocks(std::uint64_t seed, Stream stream, std::uint32_t layer, std::uint64_t first,
                 std::size_t count, T* out, Transform transform) {
    if (count == 0) return;
    BlockBatch batch;
    double values[4][kBatch];
    const std::uint64_t end = first + count;
    std::uint64_t block = first / 4;
    const std::uint64_t last_block = (end - 1) / 4;
    while (block <= last_block) {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(kBatch, last_block - block + 1));
        philox_batch(seed, stream, layer, block, n, batch);
        transform(batch, n, values);
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t base = (block + i) * 4;
            for (std::uint64_t j = 0; j < 4; ++j) {
                const std::uint64_t e = base + j;
                if (e >= first && e < end) out[e - first] = static_cast<T>(values[j][i]);
            }
        }
        block += n;
    }
}

void box_muller(const BlockBatch& b, std::size_t n, double (&v)[4][kBatch]) {
    for (std::size_t i = 0; i < n; ++i) {
        const double r0 = std::sqrt(-2.0 * std::log(open_unit(b.w[0][i])));
        const double t0 = kTwoPi * open_unit(b.w[1][i]);
        const double r1 = std::sqrt(-2.0 * std::log(open_unit(b.w[2][i])));
        const double t1 = kTwoPi * open_unit(b.w[3][i]);
        v[0][i] = r0 * std::cos(t0);
        v[1][i] = r0 * std::sin(t0);
        v[2][i] = r1 * std::cos(t1);
        v[3][i] = r1 * std::sin(t1);
    }
}

void centred_uniform(const BlockBatch& b, std::size_t n, double (&v)[4][kBatch]) {
    const double sqrt3 = std::sqrt(3.0);
    for (int j = 0; j < 4; ++j)
        for (std::size_t i = 0; i < n; ++i) v[j][i] = sqrt3 * (2.0 * open_unit(b.w[j][i]) - 1.0);
}

}  // namespace

PhiloxBlock philox4x32_10(PhiloxBlock counter, std::uint32_t k0, std::uint32_t k1) {
    BlockBatch b;
    const std::uint64_t seed = (std::uint64_t(k1) << 32) | k0;
    const std::uint64_t block = (std::uint64_t(counter[1]) << 32) | counter[0];
    // philox_batch takes (layer, stream) as counter words 2 and 3.
    philox_batch(seed, static_cast<Stream>(counter[3]), counter[2], block, 1, b);
    return {b.w[0][0], b.w[1][0], b.w[2][0], b.w[3][0]};
}

template <typename T>
void fill_normal(std::uint64_t seed, Stream stream, std::uint32_t layer, std::uint64_t first,
                 std::size_t count, T* out) {
    fill_blocks(seed, stream, layer, first, count, out, box_muller);
}

template <typename T>
void fill_uniform_unit_variance(std::uint64_t seed, Stream stream, std::uint32_t layer,
                                std::uint64_t first, std::size_t count, T* out) {
    fill_blocks(seed, stream, layer, first, count, out, centred_uniform);
}

template void fill_normal<float>(std::uint64_t, Stream, std::uint32_t, std::uint64_t,
                                 std::size_t, float*);
template void fill_normal<double>(std::uint64_t, Stream, std::uint32_t, std::uint64_t,
                                  std::size_t, double*);
template void fill_uniform_unit_variance<float>(std::uint64_t, Stream, std::uint32_t,
                                                std::uint64_t, std::size_t, float*);
template void fill_uniform_unit_variance<double>(std::uint64_t, Stream, std::uint32_t,
                                                 std::uint64_t, std::size_t, double*);

}  // namespace gradatlas
