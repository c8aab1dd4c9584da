// Internal, any POSIX system: what the I/O of src/unix/io.cpp and Linux's splice-based
// forward() (src/linux/forward.cpp) share.
#pragma once

#include "detail/deadline.hpp"

#include <csignal>
#include <system_error>

namespace tether::detail {

/// Blocks SIGPIPE in the calling thread for one write and consumes the SIGPIPE that a write to
/// a closed pipe raises (it is directed at the writing thread). The process-wide disposition is
/// never touched: a program that relies on SIGPIPE elsewhere keeps it. Cost: two
/// pthread_sigmask calls per write, none if the thread already blocks SIGPIPE or after
/// ignore_sigpipe().
class sigpipe_guard {
public:
    sigpipe_guard() noexcept;
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;
    /// Call after EPIPE: removes the SIGPIPE our write raised.
    void consume() noexcept;
    ~sigpipe_guard();

private:
    bool active_{true};
    sigset_t pipe_set_{};
    sigset_t old_{};
    bool already_blocked_{false};
    bool was_pending_{false};
};

/// Waits until `fd` is ready for `events` (poll's) or the deadline passes (errc::timed_out).
std::error_code wait_ready(int fd, short events, const deadline& d);

}  // namespace tether::detail
