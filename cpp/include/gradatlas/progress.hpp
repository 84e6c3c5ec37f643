// The core's only way back to its caller: a progress/cancel hook, polled from
// the calling thread between layers (never inside a parallel region), at most
// every `interval` so that the hook may be expensive (it may take the GIL).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace gradatlas {

// Called with (units done, units total); returns false to cancel the run.
using ProgressHook = std::function<bool(std::int64_t, std::int64_t)>;

class ProgressPoller {
public:
    ProgressPoller(const ProgressHook& hook, std::int64_t total,
                   std::chrono::milliseconds interval = std::chrono::milliseconds(50))
        : hook_(hook),
          total_(total),
          interval_(interval),
          last_(std::chrono::steady_clock::now()) {}

    // Returns false when the hook asked to stop.
    bool poll(std::int64_t done) {
        if (!hook_) return true;
        auto now = std::chrono::steady_clock::now();
        if (done < total_ && now - last_ < interval_) return true;
        last_ = now;
        return hook_(done, total_);
    }

private:
    const ProgressHook& hook_;
    std::int64_t total_;
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point last_;
};

}  // namespace gradatlas
