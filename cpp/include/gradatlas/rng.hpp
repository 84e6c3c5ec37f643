// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011). A value is a pure function of
// (seed, stream, layer, element), so results never depend on thread count,
// grouping or the order in which matrices are drawn.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace gradatlas {

// What a random array is used for; each has its own counter space.
enum class Stream : std::uint32_t {
    weights = 0,      // standard matrices Z_l
    biases = 1,       // standard bias vectors z_l
    inputs = 2,       // network inputs x
    projections = 3,  // loss projections u_b
    orthogonal = 4,   // Gaussian matrices fed to the QR of the orthogonal init
    recurrent = 5,    // recurrent cells' matrices, biases and initial states
    training = 6,     // training runs: the teacher and each step's inputs
};

using PhiloxBlock = std::array<std::uint32_t, 4>;

// One Philox4x32-10 block for counter (c0..c3) and key (k0, k1).
PhiloxBlock philox4x32_10(PhiloxBlock counter, std::uint32_t k0, std::uint32_t k1);

// Standard normals (Box-Muller on 32-bit uniforms; float32 computed in float
// arithmetic, within a few float ulps of the float64 values) for elements
// [first, first + count) of the sequence keyed by (seed, stream, layer).
// Element e comes from block e / 4, so any sub-range is reproducible.
template <typename T>
void fill_normal(std::uint64_t seed, Stream stream, std::uint32_t layer, std::uint64_t first,
                 std::size_t count, T* out);

// Uniforms on [-sqrt(3), sqrt(3)] (zero mean, unit variance), same addressing.
template <typename T>
void fill_uniform_unit_variance(std::uint64_t seed, Stream stream, std::uint32_t layer,
                                std::uint64_t first, std::size_t count, T* out);

}  // namespace gradatlas
