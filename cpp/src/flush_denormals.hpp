// Subnormal numbers flushed to zero for the duration of a run. Internal.
#pragma once

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define GRADATLAS_HAS_MXCSR 1
#endif

namespace gradatlas::detail {

// Flush-to-zero and denormals-are-zero for the duration of a run, on the
// calling thread and on every OpenMP thread of the run. Once a signal decays
// into the subnormal range (below 1.2e-38 in float32, e.g. a critical tanh net
// at width 256 after ~40,000 layers) x86 arithmetic on it is ~100x slower;
// flushing costs only those values, which are zero to within 1e-38 anyway.
class FlushDenormals {
public:
    explicit FlushDenormals(int n_threads) : n_threads_(n_threads) { apply(true); }
    ~FlushDenormals() { apply(false); }
    FlushDenormals(const FlushDenormals&) = delete;
    FlushDenormals& operator=(const FlushDenormals&) = delete;

private:
#ifdef GRADATLAS_HAS_MXCSR
    static constexpr unsigned kBits = 0x8040;  // FTZ | DAZ
    void apply(bool on) {
        auto set = [on] {
            const unsigned csr = _mm_getcsr();
            _mm_setcsr(on ? (csr | kBits) : (csr & ~kBits));
        };
        set();
#pragma omp parallel num_threads(n_threads_)
        set();
    }
#else
    void apply(bool) {}
#endif
    int n_threads_;
};

}  // namespace gradatlas::detail
