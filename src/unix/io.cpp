// Any POSIX system: the I/O hooks (backend.hpp, section 2): blocking and timed read/write with
// one meaning of end-of-file and of "peer gone", and no SIGPIPE death without touching the
// process-wide disposition (unless the program asks for SIG_IGN with ignore_sigpipe()).
// io_forward is Linux's (src/linux/forward.cpp); the public functions are src/io_common.cpp's.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/deadline.hpp"
#include "detail/backend.hpp"
#include "unix/io.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tether {
namespace {

// Set by ignore_sigpipe(): SIGPIPE is SIG_IGN for the whole process, so a write to a gone
// reader just fails with EPIPE, and the guard has nothing to do.
std::atomic<bool> sigpipe_ignored{false};

}  // namespace

namespace detail {

sigpipe_guard::sigpipe_guard() noexcept {
    if (sigpipe_ignored.load(std::memory_order_acquire)) {
        active_ = false;
        return;
    }
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

void sigpipe_guard::consume() noexcept {
    if (!active_ || was_pending_) return;
    timespec zero{};
    while (sigtimedwait(&pipe_set_, nullptr, &zero) < 0 && errno == EINTR) {
    }
}

sigpipe_guard::~sigpipe_guard() {
    if (active_ && !already_blocked_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

std::error_code wait_ready(int fd, short events, const deadline& d, short* got) {
    for (;;) {
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, d.poll_timeout());
        if (got != nullptr) *got = p.revents;
        if (n > 0) {
            if (p.revents & POLLNVAL) return std::error_code(EBADF, std::system_category());
            return {};  // readable, writable, hung up or error: the next call tells which
        }
        if (n == 0) return errc::timed_out;
        if (errno != EINTR) return last_os_error();
    }
}

bool hung_up_terminal(int fd) noexcept {
    int err = errno;
    bool tty = ::isatty(fd) == 1;
    errno = err;
    return tty;
}

}  // namespace detail

namespace {

using detail::sigpipe_guard;
using detail::wait_ready;

bool is_nonblocking(int fd) noexcept { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

// True if `fd` is open for `mode` only (O_RDONLY / O_WRONLY): asked only after a failure (EBADF,
// or a wait that never saw the end become readable), so the common path pays nothing.
bool open_only_for(int fd, int mode) noexcept {
    int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_ACCMODE) == mode;
}

// One read that does not block when `poll_first`: the descriptor is polled first (a zero
// timeout), so that a blocking pipe end given by the user needs no flag change (the flag belongs
// to the open file description, which a child may share) and no fcntl to learn its mode.
std::size_t read_once(int fd, std::span<std::byte> buf, bool poll_first, std::error_code& ec) noexcept {
    for (;;) {
        if (poll_first) {
            ec = wait_ready(fd, POLLIN, detail::deadline::now());
            if (ec == errc::timed_out) ec = errc::would_block;
            if (ec) return 0;
        }
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n >= 0) {
            ec.clear();
            return static_cast<std::size_t>(n);
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            ec = errc::would_block;
        } else if (errno == ECONNRESET) {  // a socket whose peer vanished: the same as end-of-file
            ec.clear();
        } else if (errno == EIO && detail::hung_up_terminal(fd)) {
            ec.clear();  // a terminal's master whose child side every holder closed: end-of-file
        } else if (errno == EBADF && open_only_for(fd, O_WRONLY)) {
            ec = errc::wrong_direction;  // a read on a write end
        } else {
            ec = last_os_error();
        }
        return 0;
    }
}

// More than PIPE_BUF into a blocking pipe or socket without blocking: a socket takes
// send(MSG_DONTWAIT); a pipe takes a write through a second, non-blocking open of itself
// (/proc/self/fd/N), because O_NONBLOCK on the description we hold would change it for the
// child that shares it. Both move what fits and never wait. nullopt: neither applies (then
// write_once moves PIPE_BUF at a time once the handle polls writable).
std::optional<std::size_t> write_what_fits(int fd, std::span<const std::byte> data, sigpipe_guard& guard,
                                           std::error_code& ec) noexcept {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return std::nullopt;
    int own = -1;
    if (S_ISFIFO(st.st_mode)) {
        char path[40];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        own = ::open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (own < 0 && errno == ENXIO) {  // a FIFO opened for writing with no reader left
            ec = errc::peer_gone;
            return 0;
        }
        if (own < 0) return std::nullopt;  // no /proc, or a read end: write_once says which
    } else if (!S_ISSOCK(st.st_mode)) {
        return std::nullopt;
    }
    for (;;) {
        ssize_t n = own >= 0 ? ::write(own, data.data(), data.size())
                             : ::send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        int err = errno;
        if (own >= 0) ::close(own);
        if (n >= 0) return static_cast<std::size_t>(n);
        if (err == EAGAIN || err == EWOULDBLOCK) {
            ec = errc::would_block;
        } else if (err == EPIPE || err == ECONNRESET) {
            guard.consume();
            ec = errc::peer_gone;
        } else {
            ec = std::error_code(err, std::system_category());
        }
        return 0;
    }
}

}  // namespace

std::size_t detail::io_read(native_handle fd, std::span<std::byte> buf, const deadline& deadline,
                            std::error_code& ec) noexcept {
    ec.clear();
    // Without a deadline, read() itself waits (or says EAGAIN on a non-blocking descriptor, then
    // poll waits). With one, poll waits first, until the deadline, in either mode: a poll returns
    // at once when data is there, so this costs two system calls whatever the mode, and needs no
    // fcntl(F_GETFL) to learn the mode (a read first would block a blocking descriptor).
    bool poll_first = !deadline.is_never();
    for (;;) {
        if (poll_first && (ec = wait_ready(fd, POLLIN, deadline))) {
            // A write end never polls readable: say so rather than "timed out".
            if (ec == errc::timed_out && open_only_for(fd, O_WRONLY)) ec = errc::wrong_direction;
            return 0;
        }
        auto n = read_once(fd, buf, false, ec);
        if (ec != errc::would_block) return n;
        if (!poll_first && (ec = wait_ready(fd, POLLIN, deadline))) return 0;
    }
}

namespace {

// One write that does not block. A blocking descriptor is polled first and written at most
// PIPE_BUF bytes: a pipe that polls writable has at least that much room, so the write cannot
// block. Returns 0 with errc::would_block when there is no room.
std::size_t write_once(int fd, std::span<const std::byte> data, bool chunk, sigpipe_guard& guard,
                       std::error_code& ec) noexcept {
    std::size_t len = data.size();
    if (chunk) {
        ec = wait_ready(fd, POLLOUT, detail::deadline::now());
        if (ec == errc::timed_out) ec = open_only_for(fd, O_RDONLY) ? errc::wrong_direction : errc::would_block;
        if (ec) return 0;
        len = std::min<std::size_t>(len, PIPE_BUF);
    }
    for (;;) {
        ssize_t n = ::write(fd, data.data(), len);
        if (n > 0) {
            ec.clear();
            return static_cast<std::size_t>(n);
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ec = errc::would_block;
        } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            guard.consume();
            ec = errc::peer_gone;
        } else if (n < 0 && errno == EBADF && open_only_for(fd, O_RDONLY)) {
            ec = errc::wrong_direction;  // a write on a read end
        } else {
            ec = n < 0 ? last_os_error() : std::error_code(EIO, std::system_category());
        }
        return 0;
    }
}

}  // namespace

std::size_t detail::io_write(native_handle fd, std::span<const std::byte> data, const deadline& deadline,
                             std::error_code& ec) noexcept {
    std::size_t done = 0;
    ec.clear();
    bool chunk = !deadline.is_never() && !is_nonblocking(fd);
    sigpipe_guard guard;
    while (done < data.size()) {
        done += write_once(fd, data.subspan(done), chunk, guard, ec);
        if (!ec) continue;
        if (ec != errc::would_block) return done;
        if (chunk && deadline.expired()) {
            ec = errc::timed_out;
            return done;
        }
        short got = 0;
        if ((ec = wait_ready(fd, POLLOUT, deadline, &got))) return done;
        // A terminal whose child side is gone takes bytes until its buffer is full, then polls
        // hung up and never writable again: nobody will read them.
        if ((got & (POLLHUP | POLLOUT)) == POLLHUP && detail::hung_up_terminal(fd)) {
            ec = errc::peer_gone;
            return done;
        }
    }
    return done;
}

std::size_t detail::io_try_read(native_handle fd, std::span<std::byte> buf, std::error_code& ec) noexcept {
    ec.clear();
    return read_once(fd, buf, true, ec);  // a zero-timeout poll, then the read: either mode
}

std::size_t detail::io_try_write(native_handle fd, std::span<const std::byte> data, std::error_code& ec) noexcept {
    ec.clear();
    sigpipe_guard guard;
    int flags = ::fcntl(fd, F_GETFL);  // one look serves both questions: the mode and the direction
    bool blocking = flags >= 0 && (flags & O_NONBLOCK) == 0;
    bool read_end = flags >= 0 && (flags & O_ACCMODE) == O_RDONLY;  // write_once names the mistake
    if (blocking && !read_end && data.size() > PIPE_BUF)
        if (auto n = write_what_fits(fd, data, guard, ec)) return *n;
    return write_once(fd, data, blocking, guard, ec);
}

std::error_code detail::io_ignore_sigpipe(std::string& what) {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (::sigaction(SIGPIPE, &ign, nullptr) != 0) {
        what = "sigaction(SIGPIPE)";
        return last_os_error();
    }
    sigpipe_ignored.store(true, std::memory_order_release);
    return {};
}

}  // namespace tether
