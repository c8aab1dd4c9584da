// Internal, Linux: what the kernel tells holders about one process, read from /proc and from
// the sock_diag netlink interface (src/linux/holders_proc.cpp). The report (src/linux/holders.cpp)
// asks these and nothing else of the kernel; they know nothing of reports or verdicts.
//
//   /proc/PID/fd/N      readlink gives "pipe:[INODE]" or "socket:[INODE]": equal inode = same object
//   /proc/PID/fdinfo/N  "flags:\t0100000" (octal): O_ACCMODE tells a pipe's read end from its write end;
//                       "tty-index:\t3" numbers a pseudo-terminal's master (its slave is /dev/pts/3)
//   /proc/PID/net/unix  the inodes of AF_UNIX sockets (so TCP or netlink sockets are left out)
//   NETLINK_SOCK_DIAG   a Unix socket's peer inode (UNIX_DIAG_PEER) and shutdown state, as `ss -x`
//   /proc/PID/stat      the parent PID, session, process group and start time
//   /proc/PID/cmdline   the command line (NUL-separated), /proc/PID/comm the short name
#pragma once

#include <tether/holders.hpp>

#include "detail/holders_parse.hpp"

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <dirent.h>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace tether::detail::holders_os {

std::string proc_path(std::int64_t pid, std::string_view rest);

/// Whole small /proc file; nullopt (errno kept) if it cannot be opened or read.
std::optional<std::string> read_small_file(const std::string& path);

std::optional<std::string> read_link(const std::string& path);

template <typename T>
std::optional<T> parse_number(std::string_view text, int base = 10) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

/// /proc/PID/comm without its newline; "?" if it cannot be read.
std::string process_name(std::int64_t pid);

/// Arguments joined by spaces; "[comm]" for a kernel thread or a zombie, whose cmdline is empty.
std::string command_line(std::int64_t pid);

/// Fields 4, 5, 6 and 22 of /proc/PID/stat (detail::parse_stat_fields).
std::optional<stat_fields> stat_of(std::int64_t pid);

/// The inodes of the AF_UNIX sockets in `pid`'s network namespace (/proc/PID/net/unix).
std::set<std::uint64_t> unix_socket_inodes(std::int64_t pid);

/// From the octal "flags:" line of /proc/PID/fdinfo/FD; nullopt if the descriptor is gone.
std::optional<object_end> pipe_end(std::int64_t pid, int fd);

/// A pseudo-terminal end: its number N (of /dev/pts/N) and which end — the master ("/dev/ptmx",
/// numbered by the "tty-index:" of fdinfo) as object_end::read, the child side "/dev/pts/N" (a
/// character device of the pty slave majors, 136-143) as object_end::write. nullopt for any
/// other link, before any system call (the scan of every descriptor asks it for each).
std::optional<std::pair<std::uint64_t, object_end>> terminal_end(std::int64_t pid, int fd, std::string_view link);

/// Every PID in /proc. Throws if /proc cannot be listed.
std::vector<std::int64_t> all_pids();

// A Unix socket's peer and shutdown state from the kernel's sock_diag interface (what `ss -x`
// uses): one exact lookup by inode. Unprivileged; if it is unavailable (no unix_diag in the
// kernel), the peer stays unknown and the socket gets no verdict.
class unix_diag {
public:
    unix_diag();
    unix_diag(const unix_diag&) = delete;
    unix_diag& operator=(const unix_diag&) = delete;
    ~unix_diag();

    /// Fills o.peer_object_id and o.read_shut_down; leaves them alone if the lookup fails.
    void describe(held_object& o) const;

private:
    static void parse(const char* buf, ssize_t n, held_object& o);

    int nl_;
};

struct dir_closer {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};
using dir_ptr = std::unique_ptr<DIR, dir_closer>;

// Calls fn(fd, link) for every descriptor of `pid`. Returns 0 or the errno of opendir. A
// template, so the scan of every descriptor on the machine calls its visitor directly.
template <typename Fn>
int for_each_fd(std::int64_t pid, Fn&& fn) {
    std::string dir_path = proc_path(pid, "fd");
    dir_ptr dir(::opendir(dir_path.c_str()));
    if (!dir) return errno;
    while (dirent* e = ::readdir(dir.get())) {
        auto fd = parse_number<int>(e->d_name);
        if (!fd) continue;
        char buf[512];
        ssize_t n = ::readlinkat(::dirfd(dir.get()), e->d_name, buf, sizeof buf);
        if (n > 0) fn(*fd, std::string_view(buf, static_cast<std::size_t>(n)));
    }
    return 0;
}

}  // namespace tether::detail::holders_os
