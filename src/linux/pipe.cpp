// Linux: anonymous pipes, close-on-exec from birth, their capacity (F_SETPIPE_SZ) and what a
// descriptor number names (backend.hpp, section 2; make_pipe and the checks of handle strings
// are src/pipe_common.cpp's).
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/manifest.hpp"
#include "detail/backend.hpp"
#include "linux/process.hpp"

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tether::detail {

void set_pipe_capacity(int fd, std::size_t capacity) noexcept {
    if (capacity == 0) return;
    // Advisory, as in .NET: the kernel rounds up to a page and may refuse sizes above
    // /proc/sys/fs/pipe-max-size for an unprivileged user; the pipe still works then.
    int size = capacity > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(capacity);
    (void)::fcntl(fd, F_SETPIPE_SZ, size);
}

pipe_pair pipe_create(direction d, std::size_t capacity, std::error_code& ec, std::string& what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        ec = last_system_error();
        what = "pipe2";
        return {};
    }
    unique_handle r(fds[0]), w(fds[1]);
    pipe_pair p = d == direction::in ? pipe_pair{std::move(r), std::move(w)} : pipe_pair{std::move(w), std::move(r)};
    set_pipe_capacity(p.ours.get(), capacity);
    return p;
}

std::size_t pipe_query_capacity(native_handle h, std::error_code& ec) noexcept {
    int n = ::fcntl(h, F_GETPIPE_SZ);
    if (n < 0) {
        ec = last_system_error();
        return 0;
    }
    ec.clear();
    return static_cast<std::size_t>(n);
}

bool pipe_peer_open(native_handle h) noexcept {
    // No event asked for: POLLHUP and POLLERR are reported anyway (a read end without writers, a
    // write end without readers); POLLRDHUP is a socket whose peer closed its side.
    pollfd p{h, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 1) return true;
    return (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) == 0;
}

namespace {

const char* file_kind(mode_t mode) {
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISLNK(mode)) return "a symbolic link";
    return "not a pipe";
}

}  // namespace

std::error_code pipe_check_end(native_handle h, direction d) noexcept {
    struct stat st {};
    if (::fstat(h, &st) != 0) return errc::invalid_handle_string;
    if (!S_ISFIFO(st.st_mode)) return errc::not_a_pipe;
    int flags = ::fcntl(h, F_GETFL);
    if (flags < 0) return errc::invalid_handle_string;  // closed by another thread meanwhile
    int acc = flags & O_ACCMODE;
    bool ok = acc == O_RDWR || (d == direction::in ? acc == O_RDONLY : acc == O_WRONLY);
    if (!ok) return errc::wrong_direction;
    return {};
}

std::string why_not_a_pipe(std::error_code ec, std::string_view handle_string) {
    auto value = parse_handle_value(handle_string);
    struct stat st {};
    if (ec == errc::invalid_handle_string && !value) return ": not a decimal descriptor number";
    if (ec == errc::invalid_handle_string) return ": descriptor " + std::string(handle_string) + " is not open";
    if (ec == errc::not_a_pipe && ::fstat(*value, &st) == 0)
        return std::string(": descriptor is ") + file_kind(st.st_mode);
    return {};
}

}  // namespace tether::detail
