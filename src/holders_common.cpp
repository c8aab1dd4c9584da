// Portable: tether::holders() and open_handle_count() over the backend's hooks (detail/backend.hpp,
// section 7), and the words of a report — names, relations and the verdict sentences, written
// here once for every backend. The backends (src/linux/holders*.cpp, src/windows/holders*.cpp)
// only gather facts; describe()'s table is in src/holders_table.cpp.
#include <tether/holders.hpp>

#include "detail/holders.hpp"
#include "detail/backend.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>
#include <vector>

namespace tether {

std::int64_t this_process_id() noexcept { return detail::current_pid(); }

// The backend gathers the facts (detail/backend.hpp, section 7); the order and the verdicts
// are written here, once for every backend.
holders_report holders(std::int64_t pid) {
    auto report = detail::holders_collect(pid, std::nullopt);
    detail::finish_holders_report(report);
    return report;
}

holders_report holders(std::int64_t pid, std::int64_t handle) {
    auto report = detail::holders_collect(pid, handle);
    detail::finish_holders_report(report);
    return report;
}

std::optional<std::size_t> open_handle_count(borrowed_handle h) noexcept {
    return detail::holders_open_handle_count(h);
}

const char* to_string(object_end e) noexcept {
    switch (e) {
        case object_end::read: return "read";
        case object_end::write: return "write";
        case object_end::both: return "both";
    }
    return "both";
}

const char* to_string(object_kind k) noexcept {
    switch (k) {
        case object_kind::pipe: return "pipe";
        case object_kind::unix_socket: return "unix_socket";
        case object_kind::named_pipe: return "named_pipe";
        case object_kind::terminal: return "terminal";
    }
    return "pipe";
}

const char* to_string(relation r) noexcept {
    switch (r) {
        case relation::self: return "self";
        case relation::child: return "child";
        case relation::descendant: return "descendant";
        case relation::parent: return "parent";
        case relation::ancestor: return "ancestor";
        case relation::unrelated: return "unrelated";
        case relation::left_behind: return "left_behind";
    }
    return "unrelated";
}

namespace {

// "grand", "great-grand", ... for generations 2 and 3; beyond that a number reads better.
std::string kin(int generations, const char* word) {
    if (generations == 2) return std::string("grand") + word;
    if (generations == 3) return std::string("great-grand") + word;
    return {};
}

}  // namespace

namespace detail {
// The table's RELATION column (src/holders_table.cpp).
std::string short_relation(relation r, int generations) {
    if (r == relation::descendant || r == relation::ancestor) {
        std::string k = kin(generations, r == relation::descendant ? "child" : "parent");
        if (!k.empty()) return k;
        return std::string(to_string(r)) + "(" + std::to_string(generations) + ")";
    }
    return to_string(r);
}
}  // namespace detail

std::string describe_relation(relation r, int generations) {
    switch (r) {
        case relation::self: return "this process itself";
        case relation::child: return "a child";
        case relation::parent: return "the parent";
        case relation::unrelated: return "an unrelated process";
        case relation::left_behind:
            return "probably left behind by a descendant (in this process's process group, started "
                   "after it; its parent exited and it was re-parented)";
        case relation::descendant:
        case relation::ancestor: break;
    }
    bool down = r == relation::descendant;
    std::string k = kin(generations, down ? "child" : "parent");
    if (!k.empty()) return (down ? "a " : "the ") + k;
    return std::string(down ? "a descendant (" : "an ancestor (") + std::to_string(generations) +
           (down ? " generations down)" : " generations up)");
}

namespace detail {

// Sentences here and the table (src/holders_table.cpp) show commands the same way.
std::string shorten(std::string command, std::size_t max) {
    for (char& c : command)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    if (command.size() <= max) return command;
    std::size_t cut = max - 3;
    while (cut > 0 && (static_cast<unsigned char>(command[cut]) & 0xC0) == 0x80) --cut;
    return command.substr(0, cut) + "...";
}

namespace {

// Windows words for Windows objects: a named pipe's handles are "handle 0x1a4" (hex, as
// Process Explorer and handle.exe show them); Linux descriptors are "fd 5".
bool windows_words(object_kind k) { return k == object_kind::named_pipe; }

std::string object_name(const held_object& o) {
    switch (o.kind) {
        case object_kind::pipe: return "pipe " + std::to_string(o.object_id);
        case object_kind::unix_socket: return "socket " + std::to_string(o.object_id);
        case object_kind::terminal: return "terminal /dev/pts/" + std::to_string(o.object_id);
        case object_kind::named_pipe: break;
    }
    return "named pipe " + (o.name.empty() ? "#" + std::to_string(o.object_id) : o.name);
}

}  // namespace

std::string grouped_number(std::size_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string handle_text(object_kind k, std::int64_t handle) {
    if (!windows_words(k) || handle < 0) return std::to_string(handle);
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    auto v = static_cast<std::uint64_t>(handle);
    do hex.insert(hex.begin(), digits[v % 16]);
    while ((v /= 16) != 0);
    return "0x" + hex;
}

namespace {

// "fd 7", "fds 1 and 4", or, past max_listed_fds, "fds 3, 4, ..., 10 and 9,992 more": the
// output stays bounded however many copies a process holds. Windows: "handle
// 0x1a4", "handles 0x1a4 and 0x1b0".
std::string handle_list(object_kind k, const std::vector<std::int64_t>& handles) {
    const char* word = windows_words(k) ? "handle" : "fd";
    std::string out = std::string(word) + (handles.size() == 1 ? " " : "s ");
    std::size_t shown = std::min(handles.size(), max_listed_fds);
    for (std::size_t i = 0; i < shown; ++i)
        out += (i == 0 ? "" : (i + 1 == handles.size() ? " and " : ", ")) + handle_text(k, handles[i]);
    if (shown < handles.size()) out += " and " + grouped_number(handles.size() - shown) + " more";
    return out;
}

std::string handle_list(object_kind k, const std::vector<const holder*>& copies) {
    std::vector<std::int64_t> handles;
    handles.reserve(copies.size());
    for (const holder* h : copies) handles.push_back(h->handle);
    return handle_list(k, handles);
}

// The inspected process's own handles of the object: `handles`, or just `handle` when a
// caller built the object by hand.
std::string own_fds(const held_object& o) {
    return handle_list(o.kind, o.handles.empty() ? std::vector<std::int64_t>{o.handle} : o.handles);
}

// One process's copies in one phrase, so the advice is given once:
// "this process itself (fd 7): close your local copy of the client handle" or
// "PID 4242 `sleep 100` (fds 1 and 4), a grandchild".
std::string holder_phrase(object_kind k, const std::vector<const holder*>& copies) {
    const holder& h = *copies.front();
    if (h.rel == relation::self)
        return "this process itself (" + handle_list(k, copies) + "): close your local copy of the client handle";
    return "PID " + std::to_string(h.pid) + " `" + shorten(h.command) + "` (" + handle_list(k, copies) + "), " +
           describe_relation(h.rel, h.generations);
}

std::string maybe_incomplete(std::size_t uninspected) {
    if (uninspected == 0) return {};
    return " (but " + std::to_string(uninspected) +
           (uninspected == 1 ? " process" : " processes") +
           " could not be inspected and may hold it too)";
}

// "this process itself (fd 4): ...; and by PID 7 `w` (fds 1 and 3), a child": grouped by
// process (the holders are sorted by PID), this process first.
std::string held_by(object_kind k, const std::vector<const holder*>& holders) {
    std::vector<std::vector<const holder*>> by_pid;
    for (const holder* h : holders) {
        if (by_pid.empty() || by_pid.back().front()->pid != h->pid) by_pid.emplace_back();
        by_pid.back().push_back(h);
    }
    std::stable_partition(by_pid.begin(), by_pid.end(),
                          [](const auto& g) { return g.front()->rel == relation::self; });
    std::string s;
    for (std::size_t i = 0; i < by_pid.size(); ++i)
        s += (i == 0 ? "" : "; and by ") + holder_phrase(k, by_pid[i]);
    return s;
}

std::string read_end_verdict(const held_object& o, std::size_t uninspected) {
    std::vector<const holder*> writers;
    for (const auto& h : o.others)
        if (h.end != object_end::read) writers.push_back(&h);
    std::string head = own_fds(o) + " (read end of " + object_name(o) + "): ";
    bool win = windows_words(o.kind);
    if (writers.empty())
        return head +
               (win ? "no handle of the write end is open: ReadFile fails with ERROR_BROKEN_PIPE "
                      "(end-of-file) once the pipe is empty"
                    : "no copy of the write end is open: end-of-file arrives once the pipe is empty") +
               maybe_incomplete(uninspected);
    return head + (win ? "end-of-file (ERROR_BROKEN_PIPE) will not arrive while the write end is also held by "
                       : "end-of-file will not arrive while the write end is also held by ") +
           held_by(o.kind, writers);
}

// A terminal's master reads end-of-file once every copy of its child side (/dev/pts/N) is
// closed; other copies of the master do not matter. The child side itself gets no verdict.
std::string terminal_verdict(const held_object& o, std::size_t uninspected) {
    if (o.end != object_end::read) return {};
    std::vector<const holder*> children;
    for (const auto& h : o.others)
        if (h.end == object_end::write) children.push_back(&h);
    std::string head = own_fds(o) + " (master of " + object_name(o) + "): ";
    if (children.empty())
        return head + "no copy of its child side is open: end-of-file arrives once the output is read" +
               maybe_incomplete(uninspected);
    return head + "end-of-file will not arrive while its child side is also held by " + held_by(o.kind, children);
}

std::string write_end_verdict(const held_object& o, std::size_t uninspected) {
    bool reader = std::any_of(o.others.begin(), o.others.end(),
                              [](const holder& h) { return h.end != object_end::write; });
    if (reader) return {};
    return own_fds(o) + " (write end of " + object_name(o) +
           (windows_words(o.kind) ? "): no handle of the read end is open: WriteFile fails with "
                                    "ERROR_NO_DATA (peer_gone)"
                                  : "): no copy of the read end is open: a write fails with peer_gone (EPIPE)") +
           maybe_incomplete(uninspected);
}

// A socket's end-of-file depends on its peer, another object (another inode): every copy of
// the peer must be closed, or the peer shut down for writing.
std::string socket_verdict(const held_object& o, std::size_t uninspected) {
    std::string head = own_fds(o) + " (" + object_name(o) + "): ";
    if (o.peer_object_id == 0 && o.read_shut_down)
        return head + "the peer socket is closed or shut down: end-of-file arrives once the data is read";
    if (o.peer_object_id == 0) return {};  // listening, unconnected, or unknown
    std::string peer = "the peer socket " + std::to_string(o.peer_object_id);
    if (o.peer_holders.empty())
        return head + "no descriptor of " + peer + " was found" + maybe_incomplete(uninspected);
    std::vector<const holder*> holders;
    for (const auto& h : o.peer_holders) holders.push_back(&h);
    return head + "end-of-file will not arrive while " + peer + " is held by " + held_by(o.kind, holders);
}

}  // namespace

std::string holders_verdict(const held_object& object, std::size_t uninspected) {
    if (object.kind == object_kind::unix_socket) return socket_verdict(object, uninspected);
    if (object.kind == object_kind::terminal) return terminal_verdict(object, uninspected);
    switch (object.end) {
        case object_end::read: return read_end_verdict(object, uninspected);
        case object_end::write: return write_end_verdict(object, uninspected);
        case object_end::both: break;
    }
    if (windows_words(object.kind))
        return own_fds(object) + " (" + object_name(object) +
               ", a duplex handle): it can write to the pipe itself, so nothing here tells whether "
               "end-of-file (ERROR_BROKEN_PIPE) arrives";
    return own_fds(object) + " (" + object_name(object) +
           ", opened read-write): it holds the write end itself, so end-of-file never arrives on it";
}

void finish_holders_report(holders_report& report) {
    auto by_fd = [](const held_object& a, const held_object& b) { return a.handle < b.handle; };
    std::sort(report.objects.begin(), report.objects.end(), by_fd);
    for (auto& o : report.objects) {
        auto by_pid_fd = [](const holder& a, const holder& b) {
            return std::tie(a.pid, a.handle) < std::tie(b.pid, b.handle);
        };
        std::sort(o.others.begin(), o.others.end(), by_pid_fd);
        std::sort(o.peer_holders.begin(), o.peer_holders.end(), by_pid_fd);
        o.verdict = holders_verdict(o, report.not_inspected.size());
    }
    std::sort(report.not_inspected.begin(), report.not_inspected.end(),
              [](const uninspected_process& a, const uninspected_process& b) { return a.pid < b.pid; });
}

}  // namespace detail

}  // namespace tether
