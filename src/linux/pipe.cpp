// POSIX backend: anonymous pipes, close-on-exec from birth, and validation of handle strings.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/manifest.hpp"
#include "detail/backend.hpp"
#include "linux/process.hpp"

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tether {

pipe_ends make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_error(last_os_error(), "pipe2");
    return {unique_handle(fds[0]), unique_handle(fds[1])};
}

pipe_pair make_pipe(direction d) {
    auto [r, w] = make_pipe();
    if (d == direction::in) return {std::move(r), std::move(w)};
    return {std::move(w), std::move(r)};
}

namespace detail {

void set_pipe_capacity(int fd, std::size_t capacity) noexcept {
    if (capacity == 0) return;
    // Advisory, as in .NET: the kernel rounds up to a page and may refuse sizes above
    // /proc/sys/fs/pipe-max-size for an unprivileged user; the pipe still works then.
    int size = capacity > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(capacity);
    (void)::fcntl(fd, F_SETPIPE_SZ, size);
}

}  // namespace detail

pipe_pair make_pipe(direction d, std::size_t capacity) {
    auto p = make_pipe(d);
    detail::set_pipe_capacity(p.ours.get(), capacity);
    return p;
}

std::size_t pipe_capacity(borrowed_handle h, std::error_code& ec) noexcept {
    int n = ::fcntl(h.get(), F_GETPIPE_SZ);
    if (n < 0) {
        ec = last_os_error();
        return 0;
    }
    ec.clear();
    return static_cast<std::size_t>(n);
}

pipe_server::pipe_server(direction d, std::size_t buffer_size) : dir_(d) {
    auto [ours, theirs] = make_pipe(d, buffer_size);
    ours_ = std::move(ours);
    client_ = std::move(theirs);
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

std::error_code check_pipe_handle_string(direction d, std::string_view handle_string,
                                         native_handle& out) noexcept {
    auto value = detail::parse_handle_value(handle_string);
    if (!value) return errc::invalid_handle_string;
    struct stat st {};
    if (::fstat(*value, &st) != 0) return errc::invalid_handle_string;
    if (!S_ISFIFO(st.st_mode)) return errc::not_a_pipe;
    int flags = ::fcntl(*value, F_GETFL);
    if (flags < 0) return errc::invalid_handle_string;  // closed by another thread meanwhile
    int acc = flags & O_ACCMODE;
    bool ok = acc == O_RDWR || (d == direction::in ? acc == O_RDONLY : acc == O_WRONLY);
    if (!ok) return errc::wrong_direction;
    out = *value;
    return {};
}

namespace detail {

std::string why_not_a_pipe(std::error_code ec, std::string_view handle_string) {
    auto value = parse_handle_value(handle_string);
    struct stat st {};
    if (ec == errc::invalid_handle_string && !value) return ": not a decimal descriptor number";
    if (ec == errc::invalid_handle_string) return ": descriptor " + std::string(handle_string) + " is not open";
    if (ec == errc::not_a_pipe && ::fstat(*value, &st) == 0)
        return std::string(": descriptor is ") + file_kind(st.st_mode);
    return {};
}

}  // namespace detail

}  // namespace tether
