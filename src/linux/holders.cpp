// Linux backend of holders() (detail/backend.hpp, section 7): the report — the target's pipes,
// Unix sockets and pseudo-terminal ends, one scan of every process's descriptors for their other holders, and the
// parent chains that relate each holder to the target. The kernel is read through
// linux/holders_proc.hpp (/proc/PID/fd, fdinfo, net/unix, stat, cmdline, and sock_diag).
//
// Reading another user's /proc/PID/fd needs ptrace-read access (same uid, or CAP_SYS_PTRACE);
// such processes are listed as not inspected instead of being skipped silently.
#include <tether/error.hpp>
#include <tether/holders.hpp>

#include "detail/backend.hpp"
#include "detail/holders_parse.hpp"
#include "linux/holders_proc.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tether {
namespace {

using namespace detail::holders_os;

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

// What descriptor `fd` of `pid` refers to: a pipe or socket by its link alone; a terminal end
// (only when `terminals`: it takes fdinfo or a stat) with its end in `end`.
std::optional<std::pair<object_kind, std::uint64_t>> identify(std::int64_t pid, int fd, std::string_view link,
                                                              bool terminals, std::optional<object_end>& end) {
    end.reset();
    if (auto parsed = detail::parse_fd_link(link)) return parsed;
    if (!terminals) return std::nullopt;
    auto t = terminal_end(pid, fd, link);
    if (!t) return std::nullopt;
    end = t->second;
    return std::pair{object_kind::terminal, t->first};
}

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
        std::optional<object_end> end;
        auto parsed = identify(pid, fd, link, true, end);
        if (!parsed) return;
        auto [kind, inode] = *parsed;
        if (kind == object_kind::unix_socket && !unix_inodes.contains(inode)) return;
        if (!end) end = kind == object_kind::pipe ? pipe_end(pid, fd) : object_end::both;
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
                                              " is " + *link + ", not a pipe, a Unix socket or a terminal");
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
            terminals_ = terminals_ || o.kind == object_kind::terminal;
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
        std::optional<object_end> end;
        auto parsed = identify(pid, fd, link, terminals_, end);
        if (!parsed) return;
        auto it = wanted_.find(parsed->second);
        if (it == wanted_.end()) return;
        if (!end) end = end_of(pid, fd, parsed->first);
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
    bool terminals_{false};  // a terminal is wanted: only then is a /dev/pts link looked at
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
    return report;
}

}  // namespace

namespace detail {

holders_report holders_collect(std::int64_t pid, std::optional<std::int64_t> handle) {
    if (!handle) return make_report(pid, std::nullopt);
    if (*handle < 0 || *handle > INT32_MAX)
        throw_error(std::make_error_code(std::errc::bad_file_descriptor),
                    "holders(" + std::to_string(pid) + ", " + std::to_string(*handle) + "): " +
                        std::to_string(*handle) + " is not a descriptor number");
    return make_report(pid, static_cast<int>(*handle));
}

// Linux counts references per open file description, but does not tell them to anyone; holders()
// finds the descriptors instead.
std::optional<std::size_t> holders_open_handle_count(borrowed_handle) noexcept { return std::nullopt; }

}  // namespace detail
}  // namespace tether
