// The core's own checks, without Python: run by CTest (ctest --test-dir build/ctest)
// and, cross-compiled for aarch64, under QEMU (tools/aarch64_tests.sh).
//
// - products: against a double reference to rounding, and every element the same
//   bits whatever block of rows or columns, layout (NN / NT) or thread count
//   computes it;
// - the generator: standard normals with mean 0 and variance 1, identical on
//   1 and 2 threads;
// - a short MLP group (tanh and relu) and LSTM unroll: finite, and identical on
//   1 and 2 threads.
// Then digests of the products, draws and engine outputs are printed. Given
// `--expect products=HEX,draws=HEX,...` they must match: an aarch64 build (FMA,
// the same chains) must give the x86-64 FMA digests.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gradatlas/det_gemm.hpp"
#include "gradatlas/init.hpp"
#include "gradatlas/mlp.hpp"
#include "gradatlas/recurrent.hpp"
#include "gradatlas/runtime.hpp"

namespace {

int failures = 0;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

// FNV-1a, 64 bits: a stable digest of the raw bytes.
struct Digest {
    std::uint64_t h = 1469598103934665603ull;
    template <typename T>
    void add(const std::vector<T>& v) {
        const auto* p = reinterpret_cast<const unsigned char*>(v.data());
        for (std::size_t i = 0; i < v.size() * sizeof(T); ++i) h = (h ^ p[i]) * 1099511628211ull;
    }
    std::string hex() const {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
        return buf;
    }
};

template <typename T>
std::vector<T> normals(std::uint64_t seed, std::int64_t rows, std::int64_t cols, int threads = 1) {
    std::vector<T> out(static_cast<std::size_t>(rows * cols));
    gradatlas::standard_weights<T>(seed, gradatlas::WeightDist::normal, 1, rows, cols, out.data(),
                                   threads);
    return out;
}

template <typename T>
bool same_bits(const T* a, const T* b, std::size_t n) {
    return std::memcmp(a, b, n * sizeof(T)) == 0;
}

template <typename T>
void check_products(std::int64_t m, std::int64_t k, std::int64_t n, Digest& digest) {
    using gradatlas::detail::gemm_nn;
    using gradatlas::detail::gemm_nt;
    const auto a = normals<T>(11, m, k), b = normals<T>(12, k, n);
    std::vector<T> c(static_cast<std::size_t>(m * n)), c2(c.size()), bt(b.size());
    gemm_nn(m, n, k, a.data(), k, b.data(), n, c.data(), n, 2);
    double worst = 0;
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
            double ref = 0;
            for (std::int64_t p = 0; p < k; ++p) ref += double(a[i * k + p]) * double(b[p * n + j]);
            worst = std::fmax(worst, std::fabs(ref - double(c[i * n + j])));
        }
    // float: k rounding errors of ~6e-8 relative on sums of |a b| ~ sqrt(k)
    CHECK(worst < (sizeof(T) == 4 ? 2e-4 : 1e-12));
    gemm_nn(m, n, k, a.data(), k, b.data(), n, c2.data(), n, 1);
    CHECK(same_bits(c.data(), c2.data(), c.size()));  // thread count
    gradatlas::detail::transpose(b.data(), k, n, bt.data());
    gemm_nt(m, n, k, a.data(), k, bt.data(), k, c2.data(), n, 2);
    CHECK(same_bits(c.data(), c2.data(), c.size()));  // NT layout
    // one row, and a block of rows and columns, alone
    const std::int64_t r0 = m / 3, rows = std::min<std::int64_t>(5, m - r0), c0 = 3,
                       cols = std::min<std::int64_t>(37, n - c0);
    std::vector<T> part(static_cast<std::size_t>(rows * cols));
    gemm_nn(rows, cols, k, a.data() + r0 * k, k, b.data() + c0, n, part.data(), cols, 1);
    bool ok = true;
    for (std::int64_t i = 0; i < rows; ++i)
        ok = ok && same_bits(part.data() + i * cols, c.data() + (r0 + i) * n + c0, size_t(cols));
    CHECK(ok);
    digest.add(c);
}

void check_generator(Digest& digest) {
    const auto x = normals<double>(9, 300, 200), x2 = normals<double>(9, 300, 200, 2);
    CHECK(same_bits(x.data(), x2.data(), x.size()));
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    var /= double(x.size());
    CHECK(std::fabs(mean) < 0.02 && std::fabs(var - 1) < 0.02);  // 6e4 draws: sd 0.004, 0.006
    digest.add(x);
    digest.add(normals<float>(9, 300, 200));
}

template <typename T>
std::vector<double> run_mlp(int threads) {
    using namespace gradatlas;
    MlpGroup g;
    g.seed = 1;
    g.widths.assign(7, 130);
    g.batch = 8;
    g.n_threads = threads;
    std::vector<MlpConfig> configs(2);
    configs[0].activation = Activation::tanh;
    configs[1].activation = Activation::relu;
    for (auto& c : configs) {
        c.weight_scale.assign(6, 1.3 / std::sqrt(130.0));
        c.bias_scale.assign(6, 0.1);
    }
    const std::size_t per = 2 * 6;
    std::vector<double> grad(per), rms(per), wgrad(per), q(per), c(per), sat(per), dead(per);
    std::vector<std::int64_t> bad(2);
    std::vector<std::int32_t> kind(2);
    MlpOutputs out{grad.data(), rms.data(),  wgrad.data(), q.data(),   c.data(),
                   sat.data(),  dead.data(), bad.data(),   kind.data()};
    CHECK(run_mlp_group<T>(g, configs, out, nullptr) == RunStatus::completed);
    std::vector<double> all;
    for (const auto* v : {&grad, &rms, &wgrad, &q, &c, &sat, &dead})
        all.insert(all.end(), v->begin(), v->end());
    return all;
}

template <typename T>
std::vector<double> run_lstm(int threads) {
    using namespace gradatlas;
    RecurrentGroup g;
    g.seed = 2;
    g.cell = Cell::lstm;
    g.width = 96;
    g.input_width = 96;
    g.steps = 12;
    g.batch = 8;
    g.n_threads = threads;
    std::vector<RecurrentConfig> configs(1);
    configs[0].weight_scale = 1.0 / std::sqrt(96.0);
    configs[0].input_scale = 1.0 / std::sqrt(96.0);
    configs[0].forget_bias = 1.0;
    const std::size_t per = 13;
    std::vector<double> grad(per), rms(per), cell(per), q(per), sat(per);
    std::vector<std::int64_t> bad(1);
    std::vector<std::int32_t> kind(1);
    RecurrentOutputs out{grad.data(), rms.data(), cell.data(), q.data(),
                         sat.data(),  bad.data(), kind.data()};
    CHECK(run_recurrent_group<T>(g, configs, out, nullptr) == RunStatus::completed);
    std::vector<double> all;
    for (const auto* v : {&grad, &rms, &cell, &q, &sat})
        all.insert(all.end(), v->begin(), v->end());
    return all;
}

// The first `gradients` outputs (log10 |dl/dh|) must be finite; others may be NaN by
// definition (an LSTM's saturated fraction at step 0).
template <typename Run>
void check_engine(Run run, std::size_t gradients, Digest& digest) {
    const auto one = run(1), two = run(2);
    bool finite = true;
    for (std::size_t i = 0; i < gradients; ++i) finite = finite && std::isfinite(one[i]);
    CHECK(finite);
    CHECK(same_bits(one.data(), two.data(), one.size()));
    digest.add(one);
}

}  // namespace

int main(int argc, char** argv) {
    std::map<std::string, Digest> digests;
    const auto stage = [](const char* what) {
        std::fprintf(stderr, "%s\n", what);
    };  // progress under QEMU
    stage("products");
    check_products<float>(37, 70, 45, digests["products"]);
    check_products<float>(150, 300, 70, digests["products"]);  // the packed path (64+ rows)
    check_products<double>(150, 300, 70, digests["products"]);
    stage("generator");
    check_generator(digests["draws"]);
    stage("engines");
    check_engine(run_mlp<float>, 12, digests["engines"]);
    check_engine(run_mlp<double>, 12, digests["engines"]);
    check_engine(run_lstm<float>, 13, digests["engines"]);
    std::printf("kernels: %s\n", gradatlas::kernel_isa());
    for (const auto& [name, d] : digests) std::printf("%s=%s\n", name.c_str(), d.hex().c_str());
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) != "--expect") continue;
        std::string list = argv[i + 1];
        for (std::size_t start = 0; start < list.size();) {
            const std::size_t end = std::min(list.find(',', start), list.size());
            const std::string item = list.substr(start, end - start);
            const std::size_t eq = item.find('=');
            const std::string name = item.substr(0, eq), want = item.substr(eq + 1);
            if (digests.count(name) == 0 || digests[name].hex() != want) {
                std::fprintf(stderr, "digest %s: expected %s, got %s\n", name.c_str(), want.c_str(),
                             digests.count(name) ? digests[name].hex().c_str() : "(none)");
                ++failures;
            }
            start = end + 1;
        }
    }
    std::printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
