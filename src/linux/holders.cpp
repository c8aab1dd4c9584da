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
#include "detail/holders_parse.hpp"

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
#include <unordered_map>
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

// Fields 4, 5, 6 and 22 of /proc/PID/stat (detail::parse_stat_fields).
std::optional<detail::stat_fields> stat_of(std::int64_t pid) {
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

    /// Fills o.peer_object_id and o.read_shut_down; leaves them alone if the lookup fails.
    void describe(held_object& o) const {
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

private:
    static void parse(const char* buf, ssize_t n, held_object& o) {
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

    int nl_;
};

// From the octal "flags:" line of /proc/PID/fdinfo/FD; nullopt if the descriptor is gone.
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
        return {left_behind(pid) ? relation::left_behind : relation::unrelated, 0};
    }

private:
    const std::optional<detail::stat_fields>& stat(std::int64_t pid) {
        auto it = stats_.find(pid);
        if (it == stats_.end()) it = stats_.emplace(pid, stat_of(pid)).first;
        return it->second;
    }

    // A grandchild whose parent exited is re-parented (to PID 1 or a subreaper) and its parent
    // chain no longer reaches us; what it keeps is our session and process group (tether does
    // not make new ones, nor does a shell without job control). It started after us, and its
    // new parent is older than us and not our own parent (a pipeline sibling shares our parent).
    bool left_behind(std::int64_t pid) {
        const auto& h = stat(pid);
        const auto& t = stat(target_);
        if (!h || !t || h->session != t->session || h->process_group != t->process_group) return false;
        if (h->start_time < t->start_time || h->parent == t->parent || h->parent <= 0) return false;
        const auto& p = stat(h->parent);
        return p && p->start_time <= t->start_time;
    }

    // How many steps up from `from` its ancestor `to` is; 0 if it is not an ancestor.
    int distance_up(std::int64_t from, std::int64_t to) {
        std::int64_t p = from;
        for (int steps = 1; steps < 4096; ++steps) {  // bounded: PIDs can be reused into a loop
            auto it = parents_.find(p);
            if (it == parents_.end()) {
                const auto& s = stat(p);
                it = parents_.emplace(p, s ? s->parent : 0).first;
            }
            p = it->second;
            if (p <= 0) return 0;
            if (p == to) return steps;
        }
        return 0;
    }

    std::int64_t target_;
    std::map<std::int64_t, std::int64_t> parents_;
    std::map<std::int64_t, std::optional<detail::stat_fields>> stats_;
};

std::string what(std::int64_t pid, std::optional<int> fd) {
    return "holders(" + std::to_string(pid) + (fd ? ", " + std::to_string(*fd) : std::string()) + ")";
}

// Without /proc (a container or chroot that does not mount it) every PID looks absent: say
// what is missing instead. /proc/self exists in any mounted procfs.
void require_proc(std::int64_t pid, std::optional<int> fd) {
    if (::access("/proc/self/fd", F_OK) == 0) return;
    throw_error(errc::not_supported, what(pid, fd) + ": /proc is not mounted (holders reads /proc/PID/fd, "
                                                     "/proc/PID/fdinfo and /proc/PID/stat); mount it with "
                                                     "`mount -t proc proc /proc`");
}

[[noreturn]] void throw_target_error(int err, std::int64_t pid, std::optional<int> fd) {
    require_proc(pid, fd);
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

// The target's copies of one object with one end are one held_object: merged
// by (inode, end), each with its descriptors ascending.
std::vector<held_object> group_copies(std::vector<held_object> objects) {
    std::map<std::pair<std::uint64_t, object_end>, std::size_t> index;
    std::vector<held_object> grouped;
    for (auto& o : objects) {
        auto [it, fresh] = index.try_emplace({o.object_id, o.end}, grouped.size());
        if (fresh) {
            grouped.push_back(std::move(o));
            continue;
        }
        grouped[it->second].handles.push_back(o.handle);
    }
    for (auto& o : grouped) {
        std::sort(o.handles.begin(), o.handles.end());
        o.handle = o.handles.front();
    }
    return grouped;
}

// The pipes and Unix sockets of the target (all, or only `only_fd`). The end of each pipe
// descriptor seen is kept in `ends`, so the scan of every process does not read it again.
std::vector<held_object> target_objects(std::int64_t pid, std::optional<int> only_fd,
                                        std::unordered_map<int, object_end>& ends) {
    if (pid <= 0) throw_target_error(ESRCH, pid, only_fd);
    require_proc(pid, only_fd);
    auto unix_inodes = unix_socket_inodes(pid);
    unix_diag diag;
    std::vector<held_object> objects;
    auto add = [&](int fd, std::string_view link) {
        if (only_fd && fd != *only_fd) return;
        auto parsed = detail::parse_fd_link(link);
        if (!parsed) return;
        auto [kind, inode] = *parsed;
        if (kind == object_kind::unix_socket && !unix_inodes.contains(inode)) return;
        auto end = kind == object_kind::pipe ? pipe_end(pid, fd) : object_end::both;
        if (!end) return;
        ends[fd] = *end;
        held_object o;
        o.handle = fd;
        o.handles = {fd};
        o.kind = kind;
        o.object_id = inode;
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
    return group_copies(std::move(objects));
}

// Where a found descriptor goes: the copies of an object, or the holders of its peer socket.
struct wanted_entry {
    held_object* object;
    bool peer;
};

// One scan of every process for the objects of one report. Each process's command line is
// read once, however many descriptors it holds; the target's pipe ends come from `ends`.
class holder_scan {
public:
    holder_scan(holders_report& report, std::unordered_map<int, object_end> ends, bool whole_target)
        : report_(report), fam_(report.pid), target_ends_(std::move(ends)), whole_target_(whole_target) {
        for (auto& o : report.objects) {
            wanted_[o.object_id].push_back({&o, false});
            if (o.peer_object_id != 0) wanted_[o.peer_object_id].push_back({&o, true});
        }
    }

    void run() {
        for (std::int64_t pid : all_pids()) {
            int err = for_each_fd(pid, [&](int fd, std::string_view link) { record(pid, fd, link); });
            if (err == EACCES || err == EPERM) report_.not_inspected.push_back({pid, process_name(pid)});
            // ENOENT: the process exited during the scan; it holds nothing any more.
        }
        for (auto& o : report_.objects) {
            std::sort(o.handles.begin(), o.handles.end());
            o.handle = o.handles.front();
        }
    }

private:
    std::optional<object_end> end_of(std::int64_t pid, int fd, object_kind kind) {
        if (kind != object_kind::pipe) return object_end::both;
        if (pid == report_.pid)
            if (auto it = target_ends_.find(fd); it != target_ends_.end()) return it->second;
        return pipe_end(pid, fd);
    }

    const std::string& command_of(std::int64_t pid) {
        auto it = commands_.find(pid);
        if (it == commands_.end()) it = commands_.emplace(pid, command_line(pid)).first;
        return it->second;
    }

    // Records descriptor `fd` of `pid` (which refers to `link`) in every object that wants it.
    void record(std::int64_t pid, int fd, std::string_view link) {
        auto parsed = detail::parse_fd_link(link);
        if (!parsed) return;
        auto it = wanted_.find(parsed->second);
        if (it == wanted_.end()) return;
        auto end = end_of(pid, fd, parsed->first);
        if (!end) return;  // closed while we looked
        for (const wanted_entry& w : it->second) {
            if (w.object->kind != parsed->first) continue;
            if (!w.peer && pid == report_.pid && *end == w.object->end) {
                // A copy of the object itself in the target: grouped into fds (already there
                // when the whole target was listed).
                if (!whole_target_ && fd != w.object->handle) w.object->handles.push_back(fd);
                continue;
            }
            auto [rel, gen] = fam_.of(pid);
            auto& list = w.peer ? w.object->peer_holders : w.object->others;
            list.push_back({pid, command_of(pid), fd, *end, rel, gen});
        }
    }

    holders_report& report_;
    family fam_;
    std::unordered_map<int, object_end> target_ends_;
    bool whole_target_;
    std::unordered_map<std::uint64_t, std::vector<wanted_entry>> wanted_;
    std::unordered_map<std::int64_t, std::string> commands_;
};

holders_report make_report(std::int64_t pid, std::optional<int> fd) {
    holders_report report;
    report.pid = pid;
    std::unordered_map<int, object_end> ends;
    report.objects = target_objects(pid, fd, ends);
    report.command = command_line(pid);
    if (!report.objects.empty()) holder_scan(report, std::move(ends), !fd).run();
    detail::finish_holders_report(report);
    return report;
}

}  // namespace

holders_report holders(std::int64_t pid) { return make_report(pid, std::nullopt); }

holders_report holders(std::int64_t pid, std::int64_t handle) {
    if (handle < 0 || handle > INT32_MAX)
        throw_error(std::make_error_code(std::errc::bad_file_descriptor),
                    "holders(" + std::to_string(pid) + ", " + std::to_string(handle) + "): " +
                        std::to_string(handle) + " is not a descriptor number");
    return make_report(pid, static_cast<int>(handle));
}

// Linux counts references per open file description, but does not tell them to anyone; holders()
// finds the descriptors instead.
std::optional<std::size_t> open_handle_count(borrowed_handle) noexcept { return std::nullopt; }

}  // namespace tether
