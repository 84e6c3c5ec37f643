// Standard (unit-scale) weight matrices, bias vectors, inputs and projections.
// A network's W_l is scale_l * Z_l; the scale is applied by the engine so that
// configurations differing only in scale share one Z_l (common random numbers).
#pragma once

#include <cstdint>

namespace gradatlas {

// The integer values are part of the binding contract; append only.
enum class WeightDist : int {
    normal = 0,      // Z ~ N(0, 1)
    uniform = 1,     // Z ~ U[-sqrt3, sqrt3]
    orthogonal = 2,  // Z = Q, Haar-distributed, entries of variance 1/max(n_out, n_in)
};

// Z_l, row-major (n_out x n_in), for layer l >= 1, drawn by n_threads OpenMP
// threads (the values do not depend on the thread count).
template <typename T>
void standard_weights(std::uint64_t seed, WeightDist dist, std::uint32_t layer, std::int64_t n_out,
                      std::int64_t n_in, T* out, int n_threads = 1);

// z_l, the standard normal bias vector of layer l (length n_out).
template <typename T>
void standard_biases(std::uint64_t seed, std::uint32_t layer, std::int64_t n_out, T* out);

// Network inputs, row-major (batch x n_in): input_std * N(0, 1).
template <typename T>
void standard_inputs(std::uint64_t seed, std::int64_t batch, std::int64_t n_in, double input_std,
                     T* out);

// Loss projections u_b, row-major (batch x n_out), standard normal.
template <typename T>
void standard_projections(std::uint64_t seed, std::int64_t batch, std::int64_t n_out, T* out);

}  // namespace gradatlas
