// Linux backend of holders(): facts from /proc.
//
//   /proc/PID/fd/N      readlink gives "pipe:[INODE]" or "socket:[INODE]": equal inode = same object
//   /proc/PID/fdinfo/N  "flags:\t0100000" (octal): O_ACCMODE tells a pipe's read end from its write end
//   /proc/PID/net/unix  the inodes of AF_UNIX sockets (so TCP or netlink sockets are left out)
//   NETLINK_SOCK_DIAG   a Unix socket's peer inode (UNIX_DIAG_PEER) and shutdown state, as `ss -x`
//   /proc/PID/stat      the parent PID, for child / grandchild / parent / unrelated
//   /proc/PID/cmdline   the command line (NUL-separated), /proc/PID/comm the short name
//
// Reading another user's /proc/PID/fd needs ptrace-read access (same uid, or CAP_SYS_PTRACE);
// such processes are listed as not inspected instead of being skipped silently.
#include <tether/error.hpp>
#include <tether/holders.hpp>

#include "detail/holders.hpp"

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <algorithm>
#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace tether {
namespace {

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

template <typename T>
std::optional<T> parse_number(std::string_view text, int base = 10) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
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

// Field 4 of /proc/PID/stat. The command (field 2) is in parentheses and may itself contain
// ") ", so parsing starts after the last ')'.
std::optional<std::int64_t> parent_of(std::int64_t pid) {
    auto stat = read_small_file(proc_path(pid, "stat"));
    if (!stat) return std::nullopt;
    auto close = stat->rfind(')');
    if (close == std::string::npos || close + 4 >= stat->size()) return std::nullopt;
    std::string_view rest(*stat);
    rest.remove_prefix(close + 4);  // ") S " : the state is one character
    return parse_number<std::int64_t>(rest.substr(0, rest.find(' ')));
}

// "pipe:[123]" / "socket:[123]" -> (kind, inode). Sockets are checked against the Unix set later.
std::optional<std::pair<object_kind, std::uint64_t>> parse_link(std::string_view link) {
    object_kind kind{};
    if (link.starts_with("pipe:[")) {
        kind = object_kind::pipe;
        link.remove_prefix(6);
    } else if (link.starts_with("socket:[")) {
        kind = object_kind::unix_socket;
        link.remove_prefix(8);
    } else {
        return std::nullopt;
    }
    if (!link.ends_with(']')) return std::nullopt;
    auto inode = parse_number<std::uint64_t>(link.substr(0, link.size() - 1));
    if (!inode) return std::nullopt;
    return std::pair{kind, *inode};
}

// The words of one line, split on spaces.
std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    while (true) {
        auto begin = line.find_first_not_of(' ');
        if (begin == std::string_view::npos) return out;
        line.remove_prefix(begin);
        auto len = std::min(line.size(), line.find(' '));
        out.push_back(line.substr(0, len));
        line.remove_prefix(len);
    }
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
        auto w = words(line);
        if (std::exchange(header, false) || w.size() < 7) continue;
        if (auto inode = parse_number<std::uint64_t>(w[6])) inodes.insert(*inode);
    }
    return inodes;
}

// A Unix socket's peer and shutdown state from the kernel's sock_diag interface (what `ss -x`
// uses): one exact lookup by inode. Unprivileged; if it is unavailable (no unix_diag in the
// kernel), the peer stays unknown and the socket gets no verdict.
class unix_diag {
public:
    unix_diag() : nl_(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {}
    unix_diag(const unix_diag&) = delete;
    unix_diag& operator=(const unix_diag&) = delete;
    ~unix_diag() {
        if (nl_ >= 0) ::close(nl_);
    }

    /// Fills o.peer_inode and o.read_shut_down; leaves them alone if the lookup fails.
    void describe(held_object& o) const {
        if (nl_ < 0 || o.inode > UINT32_MAX) return;
        struct {
            nlmsghdr nlh;
            unix_diag_req req;
        } msg{};
        msg.nlh.nlmsg_len = sizeof msg;
        msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
        msg.nlh.nlmsg_flags = NLM_F_REQUEST;
        msg.req.sdiag_family = AF_UNIX;
        msg.req.udiag_states = ~0u;
        msg.req.udiag_ino = static_cast<std::uint32_t>(o.inode);
        msg.req.udiag_show = UDIAG_SHOW_PEER;
        msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u;  // INET_DIAG_NOCOOKIE: any socket
        if (::send(nl_, &msg, sizeof msg, 0) != static_cast<ssize_t>(sizeof msg)) return;
        alignas(nlmsghdr) char buf[8192];
        ssize_t n = ::recv(nl_, buf, sizeof buf, 0);
        parse(buf, n, o);
    }

private:
    static void parse(const char* buf, ssize_t n, held_object& o) {
        const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
        if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(unix_diag_msg))) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
            h->nlmsg_len > static_cast<std::uint32_t>(n))
            return;
        const auto* m = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
        if (m->udiag_ino != o.inode) return;
        auto len = static_cast<unsigned>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
        for (auto* a = reinterpret_cast<const rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(std::uint32_t))
                o.peer_inode = *static_cast<const std::uint32_t*>(RTA_DATA(a));
            if (a->rta_type == UNIX_DIAG_SHUTDOWN && RTA_PAYLOAD(a) >= 1)
                o.read_shut_down = (*static_cast<const std::uint8_t*>(RTA_DATA(a)) & 1) != 0;  // RCV_SHUTDOWN
        }
    }

    int nl_;
};

// From the octal "flags:" line of /proc/PID/fdinfo/FD; nullopt if the descriptor is gone.
std::optional<object_end> pipe_end(std::int64_t pid, int fd) {
    auto info = read_small_file(proc_path(pid, "fdinfo/" + std::to_string(fd)));
    if (!info) return std::nullopt;
    auto at = info->find("flags:");
    if (at == std::string::npos) return std::nullopt;
    std::string_view v(*info);
    v.remove_prefix(v.find_first_not_of(" \t", at + 6));
    auto flags = parse_number<unsigned>(v.substr(0, v.find('\n')), 8);
    if (!flags) return std::nullopt;
    switch (*flags & O_ACCMODE) {
        case O_RDONLY: return object_end::read;
        case O_WRONLY: return object_end::write;
        default: return object_end::both;
    }
}

struct dir_closer {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};
using dir_ptr = std::unique_ptr<DIR, dir_closer>;

// Calls fn(fd, link) for every descriptor of `pid`. Returns 0 or the errno of opendir.
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

std::vector<std::int64_t> all_pids() {
    std::vector<std::int64_t> pids;
    dir_ptr dir(::opendir("/proc"));
    if (!dir) throw_error(last_os_error(), "holders: cannot list /proc");
    while (dirent* e = ::readdir(dir.get()))
        if (auto pid = parse_number<std::int64_t>(e->d_name)) pids.push_back(*pid);
    return pids;
}

// Parent chains, read lazily and cached for one report.
class family {
public:
    explicit family(std::int64_t target) : target_(target) {}

    /// The relation of `pid` to the target and the number of generations between them.
    std::pair<relation, int> of(std::int64_t pid) {
        if (pid == target_) return {relation::self, 0};
        if (int g = distance_up(pid, target_)) return {g == 1 ? relation::child : relation::descendant, g};
        if (int g = distance_up(target_, pid)) return {g == 1 ? relation::parent : relation::ancestor, g};
        return {relation::unrelated, 0};
    }

private:
    // How many steps up from `from` its ancestor `to` is; 0 if it is not an ancestor.
    int distance_up(std::int64_t from, std::int64_t to) {
        std::int64_t p = from;
        for (int steps = 1; steps < 4096; ++steps) {  // bounded: PIDs can be reused into a loop
            auto it = parents_.find(p);
            if (it == parents_.end()) it = parents_.emplace(p, parent_of(p).value_or(0)).first;
            p = it->second;
            if (p <= 0) return 0;
            if (p == to) return steps;
        }
        return 0;
    }

    std::int64_t target_;
    std::map<std::int64_t, std::int64_t> parents_;
};

std::string what(std::int64_t pid, std::optional<int> fd) {
    return "holders(" + std::to_string(pid) + (fd ? ", " + std::to_string(*fd) : std::string()) + ")";
}

[[noreturn]] void throw_target_error(int err, std::int64_t pid, std::optional<int> fd) {
    bool exists = pid > 0 && ::access(proc_path(pid, "").c_str(), F_OK) == 0;
    if (!exists) throw_error(std::make_error_code(std::errc::no_such_process),
                             what(pid, fd) + ": no process with id " + std::to_string(pid));
    if (err == EACCES || err == EPERM)
        throw_error(std::make_error_code(std::errc::permission_denied),
                    what(pid, fd) + ": may not read the descriptors of process " + std::to_string(pid) +
                        " `" + command_line(pid) + "` (another user's process: run as that user or as root)");
    if (fd && err == ENOENT)
        throw_error(std::make_error_code(std::errc::bad_file_descriptor),
                    what(pid, fd) + ": descriptor " + std::to_string(*fd) + " is not open in process " +
                        std::to_string(pid));
    throw_error(std::error_code(err, std::system_category()), what(pid, fd));
}

// The pipes and Unix sockets of the target (all, or only `only_fd`).
std::vector<held_object> target_objects(std::int64_t pid, std::optional<int> only_fd) {
    if (pid <= 0) throw_target_error(ESRCH, pid, only_fd);
    auto unix_inodes = unix_socket_inodes(pid);
    unix_diag diag;
    std::vector<held_object> objects;
    auto add = [&](int fd, std::string_view link) {
        if (only_fd && fd != *only_fd) return;
        auto parsed = parse_link(link);
        if (!parsed) return;
        auto [kind, inode] = *parsed;
        if (kind == object_kind::unix_socket && !unix_inodes.contains(inode)) return;
        auto end = kind == object_kind::pipe ? pipe_end(pid, fd) : object_end::both;
        if (!end) return;
        held_object o;
        o.fd = fd;
        o.kind = kind;
        o.inode = inode;
        o.end = *end;
        if (kind == object_kind::unix_socket) diag.describe(o);
        objects.push_back(std::move(o));
    };
    if (only_fd) {
        auto link = read_link(proc_path(pid, "fd/" + std::to_string(*only_fd)));
        if (!link) throw_target_error(errno, pid, only_fd);
        add(*only_fd, *link);
        if (objects.empty())
            throw_error(errc::not_a_pipe, what(pid, only_fd) + ": descriptor " + std::to_string(*only_fd) +
                                              " is " + *link + ", not a pipe or a Unix socket");
    } else if (int err = for_each_fd(pid, add)) {
        throw_target_error(err, pid, only_fd);
    }
    return objects;
}

// Where a found descriptor goes: the copies of an object, or the holders of its peer socket.
struct wanted_entry {
    held_object* object;
    bool peer;
};

// Records descriptor `fd` of `pid` (which refers to `link`) in every object that wants it.
void record(const std::map<std::uint64_t, std::vector<wanted_entry>>& wanted, std::int64_t target,
            family& fam, std::int64_t pid, int fd, std::string_view link) {
    auto parsed = parse_link(link);
    if (!parsed) return;
    auto it = wanted.find(parsed->second);
    if (it == wanted.end()) return;
    auto end = parsed->first == object_kind::pipe ? pipe_end(pid, fd) : object_end::both;
    if (!end) return;  // closed while we looked
    auto [rel, gen] = fam.of(pid);
    for (const wanted_entry& w : it->second) {
        if (w.object->kind != parsed->first) continue;
        if (!w.peer && pid == target && fd == w.object->fd) continue;  // the descriptor itself
        auto& list = w.peer ? w.object->peer_holders : w.object->others;
        list.push_back({pid, command_line(pid), fd, *end, rel, gen});
    }
}

// One pass over every process: who else holds each wanted inode (objects and socket peers).
void find_other_holders(holders_report& report) {
    std::map<std::uint64_t, std::vector<wanted_entry>> wanted;
    for (auto& o : report.objects) {
        wanted[o.inode].push_back({&o, false});
        if (o.peer_inode != 0) wanted[o.peer_inode].push_back({&o, true});
    }
    family fam(report.pid);
    for (std::int64_t pid : all_pids()) {
        int err = for_each_fd(pid, [&](int fd, std::string_view link) {
            record(wanted, report.pid, fam, pid, fd, link);
        });
        if (err == EACCES || err == EPERM) report.not_inspected.push_back({pid, process_name(pid)});
        // ENOENT: the process exited during the scan; it holds nothing any more.
    }
}

holders_report make_report(std::int64_t pid, std::optional<int> fd) {
    holders_report report;
    report.pid = pid;
    report.objects = target_objects(pid, fd);
    report.command = command_line(pid);
    if (!report.objects.empty()) find_other_holders(report);
    detail::finish_holders_report(report);
    return report;
}

}  // namespace

holders_report holders(std::int64_t pid) { return make_report(pid, std::nullopt); }

holders_report holders(std::int64_t pid, int fd) {
    if (fd < 0)
        throw_error(std::make_error_code(std::errc::bad_file_descriptor),
                    what(pid, fd) + ": " + std::to_string(fd) + " is not a descriptor number");
    return make_report(pid, fd);
}

// Linux counts references per open file description, but does not tell them to anyone; holders()
// finds the descriptors instead.
std::optional<std::size_t> open_handle_count(borrowed_handle) noexcept { return std::nullopt; }

}  // namespace tether
