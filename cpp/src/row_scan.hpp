// One pass over a row of pre-activations h and derivatives phi'(h) for the
// forward statistics. Internal to the core.
#pragma once

#include <cstdint>

namespace gradatlas::detail {

// |phi'| below this counts as saturated (forward statistics of every engine).
inline constexpr double kSaturated = 1e-3;

struct RowScan {
    std::int64_t saturated = 0;  // |phi'| < 1e-3
    std::int64_t dead = 0;       // phi' == 0
    bool has_nan = false;        // in h
    bool has_inf = false;        // in h
    double largest = 0;          // max |h| (meaningful when h is finite)
};

// Works on the bit patterns: for |x| (sign bit cleared) unsigned integer order
// is numeric order, with infinity above every finite value and NaN above
// infinity, so the loop is integer compares and maxima, which vectorize
// (a floating-point max with NaN semantics does not).
RowScan scan_row(const float* h, const float* dphi, std::int64_t n);
RowScan scan_row(const double* h, const double* dphi, std::int64_t n);

}  // namespace gradatlas::detail
