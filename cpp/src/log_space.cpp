#include "log_space.hpp"

#include <cstring>

#include "target_clones.hpp"

namespace gradatlas::detail {
namespace {

constexpr int kLanes = 8;  // partial sums per dot product, whatever the vector width

inline double reduce_lanes(const double (&acc)[kLanes]) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

template <typename T>
inline __attribute__((always_inline)) double dot_impl(const T* a, const T* b, std::int64_t n) {
    double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) acc[j] += double(a[i + j]) * double(b[i + j]);
    double s = reduce_lanes(acc);
    for (; i < n; ++i) s += double(a[i]) * double(b[i]);
    return s;
}

// GCC's vector extensions: the compiler left to itself spills the tile's
// accumulators; written as vectors they stay in registers. Lane j holds the
// partial sum of elements j mod 8, as in dot_impl.
typedef double Lanes __attribute__((vector_size(kLanes * sizeof(double))));
typedef float FloatLanes __attribute__((vector_size(kLanes * sizeof(float))));

inline Lanes load_lanes(const double* p) {
    Lanes v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline Lanes load_lanes(const float* p) {
    FloatLanes v;
    std::memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, Lanes);
}

// The dot products of rows a[0..P) with rows b[0..Q), each loaded vector used
// P or Q times; every product is summed exactly as dot_impl sums it.
template <int P, int Q, typename T>
inline __attribute__((always_inline)) void dot_tile(const T* a, const T* b, std::int64_t n,
                                                    double (&out)[P][Q]) {
    Lanes acc[P][Q];
    for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) acc[p][q] = Lanes{};
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        Lanes va[P], vb[Q];
        for (int p = 0; p < P; ++p) va[p] = load_lanes(a + p * n + i);
        for (int q = 0; q < Q; ++q) vb[q] = load_lanes(b + q * n + i);
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < Q; ++q) acc[p][q] += va[p] * vb[q];
    }
    for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
            double lanes[kLanes];
            std::memcpy(lanes, &acc[p][q], sizeof lanes);
            double s = reduce_lanes(lanes);
            for (std::int64_t t = i; t < n; ++t) s += double(a[p * n + t]) * double(b[q * n + t]);
            out[p][q] = s;
        }
}

template <typename T>
inline __attribute__((always_inline)) void gram_impl(const T* x, std::int64_t m, std::int64_t n,
                                                     double* g) {
    constexpr int kTile = 4;
    const std::int64_t tiled = m - m % kTile;
    for (std::int64_t a = 0; a < tiled; a += kTile)
        for (std::int64_t b = a; b < tiled; b += kTile) {
            double t[kTile][kTile];
            dot_tile<kTile, kTile>(x + a * n, x + b * n, n, t);
            for (int p = 0; p < kTile; ++p)
                for (int q = 0; q < kTile; ++q) {
                    g[(a + p) * m + (b + q)] = t[p][q];
                    g[(b + q) * m + (a + p)] = t[p][q];
                }
        }
    for (std::int64_t a = 0; a < m; ++a)  // the rows past the last whole tile
        for (std::int64_t b = std::max(a, tiled); b < m; ++b) {
            const double s = dot_impl(x + a * n, x + b * n, n);
            g[a * m + b] = s;
            g[b * m + a] = s;
        }
}

}  // namespace

GRADATLAS_CLONES double dot(const float* a, const float* b, std::int64_t n) {
    return dot_impl(a, b, n);
}

GRADATLAS_CLONES double dot(const double* a, const double* b, std::int64_t n) {
    return dot_impl(a, b, n);
}

GRADATLAS_CLONES void gram(const float* x, std::int64_t m, std::int64_t n, double* g) {
    gram_impl(x, m, n, g);
}

GRADATLAS_CLONES void gram(const double* x, std::int64_t m, std::int64_t n, double* g) {
    gram_impl(x, m, n, g);
}

}  // namespace gradatlas::detail
