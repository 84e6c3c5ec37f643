// How many threads a run uses. Internal to the core.
#pragma once

#include <cstdint>

namespace gradatlas::detail {

// Below about 2^18 multiply-adds per layer (or step) the ~17 OpenMP barriers
// of a layer cost more than a second thread saves: measured on 2 cores, width
// 64 x 16 rows ran 0.62x as fast on 2 threads as on 1, width 128 x 8 rows
// 0.96x, width 128 x 64 rows 1.33x. Results do not depend on the count.
inline int threads_for(std::int64_t multiply_adds_per_layer, int requested) {
    constexpr std::int64_t kParallelFrom = std::int64_t(1) << 18;
    return multiply_adds_per_layer < kParallelFrom ? 1 : requested;
}

}  // namespace gradatlas::detail
