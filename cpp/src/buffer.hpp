// An uninitialized array for the engines' large stores. std::vector zero-fills,
// a serial pass over a store of up to 768 MiB before any work starts; here a
// fresh block's pages are mapped up front by the run's threads, and while a sweep
// holds the memory pool open (memory_pool.hpp) a finished group's buffers are
// handed to the next group instead of being returned to the system.
// Transparent huge pages (madvise) were tried for these buffers and dropped: on
// these machines a W1 run then took 1.5 s or 3.0 s from one run to the next
// (the kernel clearing and compacting 2 MiB pages), against a steady 1.7 s.
// Internal to the core.
#pragma once

#include <cstddef>
#include <type_traits>
#include <vector>

#include "gradatlas/memory_pool.hpp"

namespace gradatlas::detail {

template <typename T>
class Buffer {
    static_assert(std::is_trivially_copyable_v<T>, "uninitialized storage is for plain numbers");

public:
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { release_block(data_, capacity_); }

    // Discards the contents; the new elements are uninitialized. A fresh block
    // has its pages mapped by n_threads threads (memory_pool.hpp).
    void resize(std::size_t count, int n_threads = 1) {
        size_ = count;
        if (count * sizeof(T) <= capacity_) return;
        release_block(data_, capacity_);
        data_ = nullptr;
        capacity_ = 0;
        data_ = static_cast<T*>(acquire_block(count * sizeof(T), capacity_, n_threads));
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;  // bytes
};

// A thread_local scratch vector is kept between calls, to save allocating
// it again, unless it has grown large (more than 16 MiB): then it is freed.
template <typename T>
void release_if_large(std::vector<T>& v) {
    if (v.capacity() * sizeof(T) > (std::size_t(16) << 20)) std::vector<T>().swap(v);
}

}  // namespace gradatlas::detail
