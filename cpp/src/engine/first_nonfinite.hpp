// Where a run first went non-finite, per output slot (a configuration, or a
// configuration and depth head). Internal.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gradatlas/run.hpp"

namespace gradatlas::engine {

// The first position at which each slot met NaN or an overflow, in one
// direction (forward: going up the chain; backward: going down it).
class FirstNonFinite {
public:
    FirstNonFinite(bool forward = true) : forward_(forward) {}

    void reset(std::int64_t slots) {
        position_.assign(std::size_t(slots), -1);
        kind_.assign(std::size_t(slots), NonFinite::none);
    }
    bool seen(std::int64_t slot) const { return position_[std::size_t(slot)] >= 0; }
    std::int64_t position(std::int64_t slot) const { return position_[std::size_t(slot)]; }
    NonFinite kind(std::int64_t slot) const { return kind_[std::size_t(slot)]; }

    // Records position p for the slot unless an earlier one is recorded; NaN
    // names the kind when both occur.
    void note(std::int64_t slot, std::int64_t p, bool has_nan, bool overflow) {
        if (!(has_nan || overflow) || seen(slot)) return;
        position_[std::size_t(slot)] = p;
        kind_[std::size_t(slot)] =
            forward_ ? (has_nan ? NonFinite::forward_nan : NonFinite::forward_overflow)
                     : (has_nan ? NonFinite::backward_nan : NonFinite::backward_overflow);
    }

    // `note` from a slot's n per-sample log10 norms at position p: NaN, or +inf (an overflow).
    void note_log_norms(std::int64_t slot, std::int64_t p, const double* logs, std::int64_t n) {
        bool has_nan = false, has_inf = false;
        for (std::int64_t b = 0; b < n; ++b) {
            has_nan |= std::isnan(logs[b]);
            has_inf |= logs[b] == std::numeric_limits<double>::infinity();
        }
        note(slot, p, has_nan, has_inf);
    }

private:
    bool forward_;
    std::vector<std::int64_t> position_;
    std::vector<NonFinite> kind_;
};

// What a run reports for one output: the forward failure when the output's
// chain reaches it (positions up to `reach`), since everything after it is
// non-finite too, else the backward one; `none` where neither happened.
inline void report_nonfinite(const FirstNonFinite& forward, std::int64_t forward_slot,
                             const FirstNonFinite& backward, std::int64_t backward_slot,
                             std::int64_t reach, std::int64_t none, std::int64_t* position,
                             std::int32_t* kind) {
    const bool fwd = forward.seen(forward_slot) && forward.position(forward_slot) <= reach;
    const bool bwd = backward.seen(backward_slot);
    *position =
        fwd ? forward.position(forward_slot) : (bwd ? backward.position(backward_slot) : none);
    *kind = std::int32_t(fwd ? forward.kind(forward_slot) : backward.kind(backward_slot));
}

}  // namespace gradatlas::engine
