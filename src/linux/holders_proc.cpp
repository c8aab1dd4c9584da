// Linux: the kernel facts behind holders (linux/holders_proc.hpp): small /proc files, read
// whole, and one sock_diag lookup per Unix socket. Kept apart from the report so what is read
// from the kernel, and how, is in one place.
#include "linux/holders_proc.hpp"

#include <tether/error.hpp>

#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace tether::detail::holders_os {

std::string proc_path(std::int64_t pid, std::string_view rest) {
    return "/proc/" + std::to_string(pid) + "/" + std::string(rest);
}

// Whole small /proc file; nullopt (errno kept) if it cannot be opened or read.
std::optional<std::string> read_small_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string text;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    int saved = errno;
    ::close(fd);
    if (n < 0) {
        errno = saved;
        return std::nullopt;
    }
    return text;
}

std::optional<std::string> read_link(const std::string& path) {
    char buf[512];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
}

std::string process_name(std::int64_t pid) {
    auto comm = read_small_file(proc_path(pid, "comm"));
    if (!comm) return "?";
    while (!comm->empty() && comm->back() == '\n') comm->pop_back();
    return *comm;
}

// Arguments joined by spaces; "[comm]" for a kernel thread or a zombie, whose cmdline is empty.
std::string command_line(std::int64_t pid) {
    auto text = read_small_file(proc_path(pid, "cmdline"));
    if (!text || text->empty()) return "[" + process_name(pid) + "]";
    while (!text->empty() && text->back() == '\0') text->pop_back();
    for (char& c : *text)
        if (c == '\0') c = ' ';
    return *text;
}

// Fields 4, 5, 6 and 22 of /proc/PID/stat (detail::parse_stat_fields).
std::optional<stat_fields> stat_of(std::int64_t pid) {
    auto stat = read_small_file(proc_path(pid, "stat"));
    if (!stat) return std::nullopt;
    return detail::parse_stat_fields(*stat);
}

// The inode column of /proc/PID/net/unix (the inspected process's network namespace):
// "Num RefCount Protocol Flags Type St Inode [Path]" after one header line.
std::set<std::uint64_t> unix_socket_inodes(std::int64_t pid) {
    std::set<std::uint64_t> inodes;
    auto text = read_small_file(proc_path(pid, "net/unix"));
    if (!text) return inodes;
    std::string_view all(*text);
    bool header = true;
    while (!all.empty()) {
        std::string_view line = all.substr(0, all.find('\n'));
        all.remove_prefix(std::min(all.size(), line.size() + 1));
        if (std::exchange(header, false)) continue;
        if (auto inode = detail::parse_net_unix_inode(line)) inodes.insert(*inode);
    }
    return inodes;
}

std::optional<object_end> pipe_end(std::int64_t pid, int fd) {
    auto info = read_small_file(proc_path(pid, "fdinfo/" + std::to_string(fd)));
    if (!info) return std::nullopt;
    auto flags = detail::parse_fdinfo_flags(*info);
    if (!flags) return std::nullopt;
    switch (*flags & O_ACCMODE) {
        case O_RDONLY: return object_end::read;
        case O_WRONLY: return object_end::write;
        default: return object_end::both;
    }
}

std::optional<std::pair<std::uint64_t, object_end>> terminal_end(std::int64_t pid, int fd, std::string_view link) {
    if (!link.starts_with("/dev/pt")) return std::nullopt;  // the cheap test: most links are not
    if (link == "/dev/ptmx" || link == "/dev/pts/ptmx") {
        auto info = read_small_file(proc_path(pid, "fdinfo/" + std::to_string(fd)));
        auto index = info ? detail::parse_fdinfo_tty_index(*info) : std::nullopt;
        if (!index) return std::nullopt;
        return std::pair{*index, object_end::read};
    }
    if (!link.starts_with("/dev/pts/")) return std::nullopt;
    struct stat st {};
    if (::stat(proc_path(pid, "fd/" + std::to_string(fd)).c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) return std::nullopt;
    // devpts numbers slave N as (136, N); the old 8-bit minors spread them over 136..143.
    auto major_number = ::major(st.st_rdev);
    if (major_number < 136 || major_number > 143) return std::nullopt;
    return std::pair{std::uint64_t{major_number - 136} * 256 + ::minor(st.st_rdev), object_end::write};
}

std::vector<std::int64_t> all_pids() {
    std::vector<std::int64_t> pids;
    dir_ptr dir(::opendir("/proc"));
    if (!dir) throw_error(last_os_error(), "holders: cannot list /proc");
    while (dirent* e = ::readdir(dir.get()))
        if (auto pid = parse_number<std::int64_t>(e->d_name)) pids.push_back(*pid);
    return pids;
}

unix_diag::unix_diag() : nl_(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {}

unix_diag::~unix_diag() {
    if (nl_ >= 0) ::close(nl_);
}

void unix_diag::describe(held_object& o) const {
    if (nl_ < 0 || o.object_id > UINT32_MAX) return;
    struct {
        nlmsghdr nlh;
        unix_diag_req req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = ~0u;
    msg.req.udiag_ino = static_cast<std::uint32_t>(o.object_id);
    msg.req.udiag_show = UDIAG_SHOW_PEER;
    msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u;  // INET_DIAG_NOCOOKIE: any socket
    if (::send(nl_, &msg, sizeof msg, 0) != static_cast<ssize_t>(sizeof msg)) return;
    alignas(nlmsghdr) char buf[8192];
    ssize_t n = ::recv(nl_, buf, sizeof buf, 0);
    parse(buf, n, o);
}

void unix_diag::parse(const char* buf, ssize_t n, held_object& o) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
    if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(unix_diag_msg))) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
        h->nlmsg_len > static_cast<std::uint32_t>(n))
        return;
    const auto* m = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
    if (m->udiag_ino != o.object_id) return;
    auto len = static_cast<unsigned>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
    for (auto* a = reinterpret_cast<const rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(std::uint32_t))
            o.peer_object_id = *static_cast<const std::uint32_t*>(RTA_DATA(a));
        if (a->rta_type == UNIX_DIAG_SHUTDOWN && RTA_PAYLOAD(a) >= 1)
            o.read_shut_down = (*static_cast<const std::uint8_t*>(RTA_DATA(a)) & 1) != 0;  // RCV_SHUTDOWN
    }
}

}  // namespace tether::detail::holders_os
