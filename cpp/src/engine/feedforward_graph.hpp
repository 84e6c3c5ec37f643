// The edges of a feed-forward chain besides a_{l-1} -> layer l: skips and
// concatenations (the DAG of mlp.hpp), as a table per layer that the engine,
// its maps and its memory plan read. Channels are per pixel for convolutions
// and units for dense layers (one pixel). Internal.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "gradatlas/mlp.hpp"

namespace gradatlas::engine {

struct LayerEdges {
    std::int64_t in_channels = 0;   // what the layer's map reads (a concat's whole width)
    std::int64_t out_channels = 0;  // what it writes (side channels first)
    // Residual configurations add a_{skip_from} to a_l (-1: no skip lands here).
    std::int64_t skip_from = -1;
    // Leading output channels that leave the chain for a later concat (C2f's y0).
    std::int64_t side_channels = 0;
    // Where a_l, and this layer's side channels, sit in the concat a later layer reads (-1: not
    // read).
    std::int64_t concat_at = -1;
    std::int64_t side_at = -1;
    bool reads_concat = false;  // the map reads the concat, a_{l-1} its last channels
    bool skip_source = false;   // a_l is added by a skip landing further than l + 1
};

inline std::int64_t pixels_of(const MlpGroup& g) {
    return g.conv.channels > 0 ? g.conv.height * g.conv.width : 1;
}

// Entries 0..L; entry 0 says only how a_0 (the input) is read. Blocks of skip_span layers: the skip
// spans each block; with c2f_bottlenecks = n the block is YOLOv8's C2f (mlp.hpp).
inline std::vector<LayerEdges> feedforward_edges(const MlpGroup& g) {
    const std::int64_t depth = std::int64_t(g.widths.size()) - 1, pixels = pixels_of(g);
    const std::int64_t span = g.skip_span < 1 ? 1 : g.skip_span;
    std::vector<LayerEdges> e(std::size_t(depth + 1));
    for (std::int64_t l = 1; l <= depth; ++l) {
        LayerEdges& x = e[std::size_t(l)];
        x.in_channels = g.widths[std::size_t(l - 1)] / pixels;
        x.out_channels = g.widths[std::size_t(l)] / pixels;
        if (g.c2f_bottlenecks == 0 && l % span == 0) x.skip_from = l - span;
    }
    if (g.c2f_bottlenecks > 0) {
        const std::int64_t n = g.c2f_bottlenecks;
        if (span != 2 * n + 2 || depth % span != 0)
            throw std::invalid_argument(
                "a C2f block has 2 * c2f_bottlenecks + 2 layers: skip_span "
                "must equal that and divide the depth");
        for (std::int64_t first = 1; first <= depth; first += span) {
            const std::int64_t last = first + span - 1;
            const std::int64_t c = e[std::size_t(first)].out_channels;  // y1 = a_first
            LayerEdges& split = e[std::size_t(first)];
            split.side_channels = c;
            split.out_channels += c;
            split.side_at = 0;
            std::int64_t at = c;
            // y1, then each bottleneck's output but the last (the last layer's direct input).
            for (std::int64_t t = first; t < last - 1; t += 2) {
                e[std::size_t(t)].concat_at = at;
                at += e[std::size_t(t)].out_channels - e[std::size_t(t)].side_channels;
                e[std::size_t(t + 2)].skip_from = t;
            }
            e[std::size_t(last)].reads_concat = true;
            e[std::size_t(last)].in_channels += at;
        }
    }
    for (std::int64_t l = 1; l <= depth; ++l) {
        const std::int64_t from = e[std::size_t(l)].skip_from;
        if (from >= 0 && from < l - 1) e[std::size_t(from)].skip_source = true;
    }
    return e;
}

}  // namespace gradatlas::engine
