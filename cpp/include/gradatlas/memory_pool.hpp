// A pool of the engines' large buffers, for sweeps of many groups: a group's
// store (up to the store budget) is otherwise allocated fresh and first
// touched page by page by every group, which on these machines cost ~15% of a
// single configuration's run. While the pool is open, buffers freed by a
// finished group are kept and handed to the next one; closing the last opener
// frees them. Thread-safe; the numbers are unaffected (every buffer is written
// before it is read).
#pragma once

#include <cstddef>

namespace gradatlas {

// Opens the pool (nested opens count); freed buffers are kept, up to cap_bytes
// in all (the largest cap of the open ones).
void open_memory_pool(std::size_t cap_bytes);
// Closes one open; the last close frees every kept buffer.
void close_memory_pool();
// Bytes currently kept (not in use).
std::size_t memory_pool_bytes();

namespace detail {
// Blocks of at least `bytes`, 64-byte aligned; `capacity` receives the size.
// A fresh large block has its pages mapped up front by n_threads threads.
void* acquire_block(std::size_t bytes, std::size_t& capacity, int n_threads);
void release_block(void* block, std::size_t capacity);
}  // namespace detail

}  // namespace gradatlas
