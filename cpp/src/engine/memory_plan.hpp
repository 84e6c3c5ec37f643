// How a chain keeps what its backward pass needs, within a byte budget. Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "gradatlas/run.hpp"

namespace gradatlas::engine {

// What a chain needs, in bytes: per position, the cache its backward pass
// reads (`required`) and what it may instead compute again going back
// (`redrawable`: a layer's random matrix); the carried state the plan weighs
// against a position (`state`) and what a checkpoint holds (`checkpoint`: the
// state and any per-row scalars); and what it uses whatever the plan (`fixed`).
struct ChainBytes {
    std::int64_t length;
    std::int64_t required;
    std::int64_t redrawable;
    std::int64_t state;
    std::int64_t checkpoint;
    std::int64_t fixed;
};

// Every position kept when that fits the budget; then every position without
// its redrawable part; then checkpoints every k ~ sqrt(L state / per position)
// positions, each segment's forward pass computed again going back (memory
// grows like sqrt(L)). A positive `checkpoint_every` forces k.
inline MemoryPlan plan_chain_memory(const ChainBytes& b, std::int64_t budget,
                                    std::int64_t checkpoint_every) {
    const std::int64_t per_position = b.required + b.redrawable;
    std::int64_t k = checkpoint_every;
    bool keep_redrawable = true;
    if (k <= 0) {
        if (b.length * per_position + b.state <= budget) {
            k = b.length;
        } else if (b.redrawable > 0 && b.length * b.required + b.state <= budget) {
            k = b.length;
            keep_redrawable = false;
        } else {
            k = std::int64_t(
                std::ceil(std::sqrt(double(b.length) * double(b.state) / double(per_position))));
        }
    }
    k = std::clamp<std::int64_t>(k, 1, b.length);
    const std::int64_t checkpoints = (b.length + k - 1) / k;
    const std::int64_t kept = k * (keep_redrawable ? per_position : b.required);
    return {k, b.fixed + kept + checkpoints * b.checkpoint, keep_redrawable};
}

}  // namespace gradatlas::engine
