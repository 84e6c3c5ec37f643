// What the feed-forward and recurrent engines share: losses, non-finite codes,
// memory plans and run status.
#pragma once

#include <cstdint>

namespace gradatlas {

// Per-sample losses on the output y (a_L, or a hidden state h_t):
// projection l_b = u_b . y^(b); sum_squares l_b = |y^(b)|^2 / 2.
enum class Loss : int { projection = 0, sum_squares = 1 };

// Codes of the outputs' nonfinite_kind.
enum class NonFinite : std::int32_t {
    none = 0,
    forward_overflow = 1,
    forward_nan = 2,
    backward_overflow = 3,
    backward_nan = 4,
};

struct MemoryPlan {
    std::int64_t checkpoint_every;  // k; equal to L (or T) when everything is kept
    std::int64_t bytes;             // peak working memory of the engine
    // Whether the backward pass reads the forward pass's random matrices from
    // the store (true) or draws them again (false: they did not fit).
    bool keep_weights = true;
};

enum class RunStatus { completed = 0, cancelled = 1 };

}  // namespace gradatlas
