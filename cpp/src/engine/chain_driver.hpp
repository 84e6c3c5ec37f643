// The driver every engine runs under. A chain is the rows of a group
// (configuration, sample) carried through positions 1..L (layers or time
// steps) by an engine's blocks; the driver owns the order of the work: the
// forward pass, the backward pass segment by segment with a checkpoint of the
// carried state every k positions (a segment's forward pass is computed again
// before going back through it when not every position's cache fits), progress
// and cancel between positions, denormal flushing and BLAS threads. Internal.
//
// A Chain provides:
//   int threads() const;
//   void allocate();
//   void begin_forward();                      // position 0: inputs or initial state
//   void save_state(std::int64_t slot);        // the carried state at position slot * k
//   void load_state(std::int64_t slot);
//   void forward(std::int64_t p, Pass pass);   // p - 1 -> p
//   void backward(std::int64_t p, std::int64_t first);  // p -> p - 1; first: the segment's start
//   void end_backward();                       // after position 1
//   void finish();                             // outputs that need both passes
#pragma once

#include <algorithm>
#include <cstdint>

#include "../flush_denormals.hpp"
#include "gradatlas/blas.hpp"
#include "gradatlas/progress.hpp"
#include "gradatlas/run.hpp"

namespace gradatlas::engine {

// What a forward position does: keep its cache for the backward pass (store),
// record the forward outputs (only the first pass does), and where the stored
// segment starts.
struct Pass {
    bool store;
    bool record;
    std::int64_t first;
};

template <class Chain>
RunStatus run_chain(Chain& chain, std::int64_t length, std::int64_t checkpoint_every,
                    const ProgressHook& hook) {
    const std::int64_t k = checkpoint_every;
    const bool segmented = k < length;
    ProgressPoller poller(hook, length * (segmented ? 3 : 2));
    std::int64_t done = 0;
    const detail::FlushDenormals flush(chain.threads());
    chain.allocate();
    blas::set_num_threads(1);  // threads come from OpenMP; BLAS only for the orthogonal init
    chain.begin_forward();
    for (std::int64_t p = 1; p <= length; ++p) {
        if ((p - 1) % k == 0) chain.save_state((p - 1) / k);
        chain.forward(p, Pass{!segmented, true, 1});
        if (!poller.poll(++done)) return RunStatus::cancelled;
    }
    for (std::int64_t s = (length + k - 1) / k - 1; s >= 0; --s) {
        const std::int64_t first = s * k + 1, last = std::min(length, (s + 1) * k);
        if (segmented) {
            chain.load_state(s);
            for (std::int64_t p = first; p <= last; ++p) {
                chain.forward(p, Pass{true, false, first});
                if (!poller.poll(++done)) return RunStatus::cancelled;
            }
        }
        for (std::int64_t p = last; p >= first; --p) {
            chain.backward(p, first);
            if (!poller.poll(++done)) return RunStatus::cancelled;
        }
    }
    chain.end_backward();
    chain.finish();
    return RunStatus::completed;
}

}  // namespace gradatlas::engine
