#include "gradatlas/memory_pool.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace gradatlas {
namespace {

constexpr std::size_t kAlign = 64;  // a cache line
constexpr std::size_t kPopulateFrom = std::size_t(2) << 20;

struct Block {
    void* data;
    std::size_t capacity;
};

struct Pool {
    std::mutex mutex;
    int opens = 0;
    std::size_t cap = 0;
    std::size_t kept_bytes = 0;
    std::vector<Block> kept;

    void free_all() {
        for (const Block& b : kept) std::free(b.data);
        kept.clear();
        kept_bytes = 0;
    }
};

// Maps a fresh block's pages in one call per thread (the kernel still zeroes
// them) instead of one page fault per 4 KiB page at first touch: the faults,
// and their contention on the page-table lock, were ~8% of a W1 run.
// Advice only: older kernels refuse it and the pages fault in as before.
void populate(void* data, std::size_t bytes, int n_threads) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    const std::uintptr_t page = 4096;
    const auto first = (reinterpret_cast<std::uintptr_t>(data) + page - 1) / page * page;
    const auto last = (reinterpret_cast<std::uintptr_t>(data) + bytes) / page * page;
    if (last <= first) return;
    const std::uintptr_t pages = (last - first) / page;
    const std::int64_t parts = std::max(1, n_threads);
#pragma omp parallel for schedule(static) num_threads(int(parts))
    for (std::int64_t t = 0; t < parts; ++t) {
        const std::uintptr_t p0 = first + pages * std::uintptr_t(t) / std::uintptr_t(parts) * page;
        const std::uintptr_t p1 =
            first + pages * std::uintptr_t(t + 1) / std::uintptr_t(parts) * page;
        if (p1 > p0) madvise(reinterpret_cast<void*>(p0), p1 - p0, MADV_POPULATE_WRITE);
    }
#else
    (void)data;
    (void)bytes;
    (void)n_threads;
#endif
}

Pool& pool() {
    static Pool p;  // built on first use; destroyed at exit, after the last run
    return p;
}

}  // namespace

void open_memory_pool(std::size_t cap_bytes) {
    Pool& p = pool();
    const std::lock_guard<std::mutex> lock(p.mutex);
    ++p.opens;
    p.cap = std::max(p.cap, cap_bytes);
}

void close_memory_pool() {
    Pool& p = pool();
    const std::lock_guard<std::mutex> lock(p.mutex);
    if (p.opens > 0 && --p.opens == 0) {
        p.free_all();
        p.cap = 0;
    }
}

std::size_t memory_pool_bytes() {
    Pool& p = pool();
    const std::lock_guard<std::mutex> lock(p.mutex);
    return p.kept_bytes;
}

namespace detail {

void* acquire_block(std::size_t bytes, std::size_t& capacity, int n_threads) {
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;  // aligned_alloc's rule
    {
        Pool& p = pool();
        const std::lock_guard<std::mutex> lock(p.mutex);
        // The smallest kept block that fits without wasting more than half of it.
        auto best = p.kept.end();
        for (auto it = p.kept.begin(); it != p.kept.end(); ++it)
            if (it->capacity >= bytes && it->capacity / 2 <= bytes &&
                (best == p.kept.end() || it->capacity < best->capacity))
                best = it;
        if (best != p.kept.end()) {
            void* data = best->data;
            capacity = best->capacity;
            p.kept_bytes -= capacity;
            p.kept.erase(best);
            return data;
        }
    }
    void* data = std::aligned_alloc(kAlign, bytes);
    if (!data) throw std::bad_alloc();
    capacity = bytes;
    if (bytes >= kPopulateFrom) populate(data, bytes, n_threads);
    return data;
}

void release_block(void* block, std::size_t capacity) {
    if (!block) return;
    Pool& p = pool();
    {
        const std::lock_guard<std::mutex> lock(p.mutex);
        if (p.opens > 0 && p.kept_bytes + capacity <= p.cap) {
            p.kept.push_back({block, capacity});
            p.kept_bytes += capacity;
            return;
        }
    }
    std::free(block);
}

}  // namespace detail
}  // namespace gradatlas
