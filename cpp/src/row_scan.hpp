// Single passes over a row for the forward statistics. Internal to the core.
//
// They work on bit patterns: for |x| (sign bit cleared) unsigned integer order
// is numeric order, with infinity above every finite value and NaN above
// infinity, so the loops are integer compares and maxima, which vectorize
// (a floating-point max with NaN semantics does not).
#pragma once

#include <cstdint>

namespace gradatlas::detail {

// |phi'| below this counts as saturated (forward statistics of every engine).
inline constexpr double kSaturated = 1e-3;

struct DerivativeCount {
    std::int64_t saturated = 0;  // |d| < kSaturated
    std::int64_t dead = 0;       // d == 0
};
DerivativeCount count_small_derivatives(const float* d, std::int64_t n);
DerivativeCount count_small_derivatives(const double* d, std::int64_t n);

struct ValueScan {
    bool has_nan = false;
    bool has_inf = false;
    double largest = 0;  // max |x|, meaningful when the row is finite
};
ValueScan scan_values(const float* x, std::int64_t n);
ValueScan scan_values(const double* x, std::int64_t n);

}  // namespace gradatlas::detail
