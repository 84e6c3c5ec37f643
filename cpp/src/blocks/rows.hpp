// The rows a block works on. Internal.
#pragma once

#include <cstdint>

namespace gradatlas::blocks {

// Rows [first, end) of a group's matrices: row r is sample r % batch of
// configuration config_of(r). Forward rows are (configuration, sample);
// backward rows repeat them once per depth head, so that forward_row(r) names
// the forward row whose cache a backward row reads. A block runs its rows in
// parallel on `threads` OpenMP threads; each row's arithmetic is the same
// whatever the thread count.
struct Rows {
    std::int64_t first;
    std::int64_t end;
    std::int64_t batch;
    std::int64_t configs;
    int threads;

    std::int64_t config_of(std::int64_t r) const { return (r / batch) % configs; }
    std::int64_t forward_row(std::int64_t r) const { return r % (batch * configs); }
    std::int64_t count() const { return end - first; }
};

}  // namespace gradatlas::blocks
