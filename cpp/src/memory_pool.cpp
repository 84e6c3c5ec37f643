#include "gradatlas/memory_pool.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace gradatlas {
namespace {

constexpr std::size_t kAlign = 64;  // a cache line

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

Pool& pool() {
    static Pool p;  // never destroyed before the extension's last use
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

void* acquire_block(std::size_t bytes, std::size_t& capacity) {
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
