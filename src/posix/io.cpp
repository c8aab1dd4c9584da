// POSIX backend: blocking and timed read/write with one meaning of end-of-file and of
// "peer gone", and no SIGPIPE death without touching the process-wide disposition.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

namespace tether {
namespace {

using clock = std::chrono::steady_clock;

// Blocks SIGPIPE in the calling thread for one write and consumes the SIGPIPE that a write to a
// closed pipe raises (it is directed at the writing thread). The process-wide disposition is
// never touched: a program that relies on SIGPIPE elsewhere keeps it. Cost: two
// pthread_sigmask calls per write, none if the thread already blocks SIGPIPE.
class sigpipe_guard {
public:
    sigpipe_guard() noexcept {
        sigemptyset(&pipe_set_);
        sigaddset(&pipe_set_, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_);
        already_blocked_ = sigismember(&old_, SIGPIPE) == 1;
        if (already_blocked_) {
            // A SIGPIPE may already be pending for reasons of the caller's own; leave it alone.
            sigset_t pending;
            sigpending(&pending);
            was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        }
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;
    /// Call after EPIPE: removes the SIGPIPE our write raised.
    void consume() noexcept {
        if (was_pending_) return;
        timespec zero{};
        while (sigtimedwait(&pipe_set_, nullptr, &zero) < 0 && errno == EINTR) {
        }
    }
    ~sigpipe_guard() {
        if (!already_blocked_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }

private:
    sigset_t pipe_set_{};
    sigset_t old_{};
    bool already_blocked_{false};
    bool was_pending_{false};
};

int remaining_ms(std::optional<clock::time_point> deadline) {
    if (!deadline) return -1;
    auto left = std::chrono::ceil<milliseconds>(*deadline - clock::now()).count();
    if (left <= 0) return 0;
    return left > INT_MAX ? INT_MAX : static_cast<int>(left);
}

// Waits until `fd` is ready for `events` or the deadline passes.
std::error_code wait_ready(int fd, short events, std::optional<clock::time_point> deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n > 0) {
            if (p.revents & POLLNVAL) return std::error_code(EBADF, std::system_category());
            return {};  // readable, writable, hung up or error: the next call tells which
        }
        if (n == 0) return errc::timed_out;
        if (errno != EINTR) return last_os_error();
    }
}

std::size_t read_impl(int fd, std::span<std::byte> buf, std::optional<clock::time_point> deadline,
                      std::error_code& ec) noexcept {
    if (buf.empty()) {
        ec.clear();
        return 0;
    }
    for (;;) {
        if (deadline) {
            if ((ec = wait_ready(fd, POLLIN, deadline))) return 0;
        }
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n >= 0) {
            ec.clear();
            return static_cast<std::size_t>(n);
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if ((ec = wait_ready(fd, POLLIN, deadline))) return 0;
            continue;
        }
        if (errno == ECONNRESET) {  // a socket whose peer vanished: the same as end-of-file
            ec.clear();
            return 0;
        }
        ec = last_os_error();
        return 0;
    }
}

std::size_t write_impl(int fd, std::span<const std::byte> data, std::optional<clock::time_point> deadline,
                       std::error_code& ec) noexcept {
    std::size_t done = 0;
    ec.clear();
    if (data.empty()) return 0;  // never a zero-byte write
    // With a deadline on a blocking descriptor, write at most PIPE_BUF after poll() reports
    // room: a pipe that polls writable has at least that much, so the write cannot block.
    bool chunk = deadline && (::fcntl(fd, F_GETFL) & O_NONBLOCK) == 0;
    sigpipe_guard guard;
    while (done < data.size()) {
        if (deadline) {
            if ((ec = wait_ready(fd, POLLOUT, deadline))) return done;
        }
        std::size_t len = data.size() - done;
        if (chunk && len > PIPE_BUF) len = PIPE_BUF;
        ssize_t n = ::write(fd, data.data() + done, len);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if ((ec = wait_ready(fd, POLLOUT, deadline))) return done;
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            guard.consume();
            ec = errc::peer_gone;
            return done;
        }
        ec = n < 0 ? last_os_error() : std::error_code(EIO, std::system_category());
        return done;
    }
    return done;
}

std::optional<clock::time_point> deadline_after(milliseconds timeout) {
    // Clamped so that now() + timeout cannot overflow: milliseconds::max() means "no limit".
    constexpr milliseconds max_timeout = std::chrono::hours(24 * 365 * 200);
    return clock::now() + std::clamp(timeout, milliseconds(0), max_timeout);
}

}  // namespace

std::size_t read(borrowed_handle h, std::span<std::byte> buf, std::error_code& ec) noexcept {
    return read_impl(h.get(), buf, std::nullopt, ec);
}

std::size_t read_for(borrowed_handle h, std::span<std::byte> buf, milliseconds timeout,
                     std::error_code& ec) noexcept {
    return read_impl(h.get(), buf, deadline_after(timeout), ec);
}

std::size_t write_all(borrowed_handle h, std::span<const std::byte> data, std::error_code& ec) noexcept {
    return write_impl(h.get(), data, std::nullopt, ec);
}

std::size_t write_all_for(borrowed_handle h, std::span<const std::byte> data, milliseconds timeout,
                          std::error_code& ec) noexcept {
    return write_impl(h.get(), data, deadline_after(timeout), ec);
}

}  // namespace tether
