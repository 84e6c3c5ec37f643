// An uninitialized array for the engines' large stores. std::vector zero-fills,
// a serial pass over a store of up to 1 GiB before any work starts; here pages
// are first touched by the (parallel) code that fills them.
// Transparent huge pages (madvise) were tried for these buffers and dropped: on
// these machines a W1 run then took 1.5 s or 3.0 s from one run to the next
// (the kernel clearing and compacting 2 MiB pages), against a steady 1.7 s.
// Internal to the core.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

namespace gradatlas::detail {

template <typename T>
class Buffer {
    static_assert(std::is_trivially_copyable_v<T>, "uninitialized storage is for plain numbers");

public:
    Buffer() = default;

    // Discards the contents; the new elements are uninitialized.
    void resize(std::size_t count) {
        data_.reset();
        size_ = 0;
        if (count == 0) return;
        constexpr std::size_t kAlign = 64;  // a cache line
        const std::size_t bytes = (count * sizeof(T) + kAlign - 1) / kAlign * kAlign;
        void* p = std::aligned_alloc(kAlign, bytes);  // size a multiple of the alignment
        if (!p) throw std::bad_alloc();
        data_.reset(static_cast<T*>(p));
        size_ = count;
    }

    T* data() { return data_.get(); }
    const T* data() const { return data_.get(); }
    std::size_t size() const { return size_; }

private:
    struct Free {
        void operator()(T* p) const { std::free(p); }
    };
    std::unique_ptr<T, Free> data_;
    std::size_t size_ = 0;
};

}  // namespace gradatlas::detail
