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

/// After a read of `fd` failed with EIO, or a write found no room and poll said hung up:
/// whether `fd` is a terminal, whose EIO means that every holder of the other side closed it
/// (Linux: a pty master once the last slave descriptor is closed), which the read hooks report
/// as end-of-file and the write hooks as errc::peer_gone. Asked only on those error paths, so
/// pipe I/O pays nothing. Keeps errno.
bool hung_up_terminal(int fd) noexcept;

/// Waits until `fd` is ready for `events` (poll's) or the deadline passes (errc::timed_out).
/// `got`, if given, receives what poll reported.
std::error_code wait_ready(int fd, short events, const deadline& d, short* got = nullptr);

}  // namespace tether::detail
