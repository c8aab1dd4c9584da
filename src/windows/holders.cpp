// Windows backend of holders() (detail/backend.hpp, section 7): the report — the target's pipe
// ends, every handle of the machine compared against them, and the parent chains that relate
// each holder to the target. The system is asked through windows/holders_os.hpp:
//
//   DuplicateHandle     a copy of each File handle of every process we may open (PROCESS_DUP_HANDLE)
//   CompareObjectHandles  equal = the same kernel object: the copies of one pipe end
//   the access bits FILE_READ_DATA / FILE_WRITE_DATA tell the read end from the write end;
//   the pipe's name, shared by both ends, finds the other end
#include "windows/holders_os.hpp"

#include <tether/error.hpp>
#include <tether/handle.hpp>
#include <tether/holders.hpp>

#include "detail/backend.hpp"
#include "detail/holders.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <winternl.h>

namespace tether {
namespace {

using namespace detail::holders_os;

// Parent chains from the snapshot; a link counts only if the parent was created before the
// child (when both creation times are known): Windows reuses PIDs, and a parent's PID may name
// a newer, unrelated process. tether's handle vault (a suspended copy of the spawning program,
// `--tether-handle-vault`, made the children's parent with PROC_THREAD_ATTRIBUTE_PARENT_PROCESS)
// is a step of the chain that is not counted: the child of our vault is our child.
class family {
public:
    using command_fn = std::function<const std::string&(std::int64_t)>;
    family(std::int64_t target, const std::map<std::int64_t, process_info>& procs, command_fn command)
        : target_(target), procs_(procs), command_(std::move(command)) {}

    std::pair<relation, int> of(std::int64_t pid) {
        if (pid == target_) return {relation::self, 0};
        if (int g = distance_up(pid, target_)) return {g == 1 ? relation::child : relation::descendant, g};
        if (int g = distance_up(target_, pid)) return {g == 1 ? relation::parent : relation::ancestor, g};
        return {relation::unrelated, 0};
    }

private:
    std::int64_t parent_of(std::int64_t pid) {
        auto it = procs_.find(pid);
        if (it == procs_.end() || it->second.parent <= 0 || !procs_.contains(it->second.parent)) return 0;
        auto child = created(pid), parent = created(it->second.parent);
        if (child && parent && *parent > *child) return 0;  // a newer process with a reused PID
        return it->second.parent;
    }

    std::optional<std::uint64_t> created(std::int64_t pid) {
        auto it = times_.find(pid);
        if (it == times_.end()) it = times_.emplace(pid, creation_time(pid)).first;
        return it->second;
    }

    bool is_vault(std::int64_t pid) {
        return command_(pid).find(" --tether-handle-vault") != std::string::npos;
    }

    int distance_up(std::int64_t from, std::int64_t to) {
        std::int64_t p = from;
        int steps = 0;
        for (int links = 0; links < 1024; ++links) {
            p = parent_of(p);
            if (p <= 0) return 0;
            if (p == to) return steps + 1;
            if (!is_vault(p)) ++steps;
        }
        return 0;
    }

    std::int64_t target_;
    const std::map<std::int64_t, process_info>& procs_;
    command_fn command_;
    std::map<std::int64_t, std::optional<std::uint64_t>> times_;
};

// ---- The report ----

std::string what(std::int64_t pid, std::optional<std::int64_t> handle) {
    return "holders(" + std::to_string(pid) +
           (handle ? ", " + detail::handle_text(object_kind::named_pipe, *handle) : std::string()) + ")";
}

// One pipe end of the target: its own duplicates and facts.
struct target_object {
    held_object object;
    unique_handle dup;     ///< a duplicate in this process, to compare others against
    bool server{false};
};

class scan {
public:
    scan(std::int64_t pid, std::optional<std::int64_t> only)
        : pid_(pid), only_(only), procs_(process_snapshot()),
          fam_(pid, procs_, [this](std::int64_t p) -> const std::string& { return command_of(p); }) {}

    holders_report run() {
        table_ = take_table();
        open_target();
        holders_report report;
        report.pid = pid_;
        report.command = command_of(pid_);
        collect_target();
        for (const auto& e : table_.entries) consider(e, report);
        for (auto& t : objects_) {
            std::sort(t.object.handles.begin(), t.object.handles.end());
            t.object.handle = t.object.handles.front();
            report.objects.push_back(std::move(t.object));
        }
        return report;
    }

private:
    bool is_file(const table_entry& e) const { return !table_.file_type || e.type == *table_.file_type; }

    void open_target() {
        if (pid_ <= 0 || pid_ > UINT32_MAX)
            throw_error(std::make_error_code(std::errc::no_such_process), what(pid_, only_) + ": no process with id " + std::to_string(pid_));
        unique_handle p = open_process(pid_, PROCESS_DUP_HANDLE);
        if (p) {
            processes_[pid_] = std::move(p);
            return;
        }
        DWORD err = ::GetLastError();
        if (err == ERROR_ACCESS_DENIED)
            throw_error(std::make_error_code(std::errc::permission_denied),
                        what(pid_, only_) + ": may not duplicate the handles of process " + std::to_string(pid_) +
                            " `" + command_of(pid_) + "` (OpenProcess(PROCESS_DUP_HANDLE) is denied: run as its user or elevated)");
        throw_error(std::make_error_code(std::errc::no_such_process), what(pid_, only_) + ": no process with id " + std::to_string(pid_));
    }

    // A duplicate of handle `e` in this process, or none (the process may not be opened, or the
    // handle closed meanwhile). Processes that refuse are listed once in not_inspected.
    unique_handle duplicate(const table_entry& e, holders_report* report) {
        auto it = processes_.find(e.pid);
        if (it == processes_.end()) {
            unique_handle p = open_process(e.pid, PROCESS_DUP_HANDLE);
            if (!p && ::GetLastError() == ERROR_ACCESS_DENIED && report)
                report->not_inspected.push_back({e.pid, exe_of(e.pid)});
            it = processes_.emplace(e.pid, std::move(p)).first;
        }
        if (!it->second) return {};
        HANDLE dup = nullptr;
        if (!::DuplicateHandle(it->second.get(), handle_from_integer(static_cast<std::uint64_t>(e.value)),
                               ::GetCurrentProcess(), &dup, 0, FALSE, DUPLICATE_SAME_ACCESS))
            return {};
        return unique_handle(dup);
    }

    // The target's pipe handles (all, or only `only_`), copies of one end grouped into one object.
    void collect_target() {
        bool seen = false;
        for (const auto& e : table_.entries) {
            if (e.pid != pid_ || (only_ && e.value != *only_)) continue;
            seen = true;
            if (!is_file(e)) continue;
            unique_handle dup = duplicate(e, nullptr);
            if (!dup) continue;
            pipe_facts f = facts_of(e, dup.get());
            if (!f.is_pipe) continue;
            add_target_handle(e, std::move(dup), f);
        }
        if (only_ && !seen)
            throw_error(std::make_error_code(std::errc::bad_file_descriptor),
                        what(pid_, only_) + ": handle " + detail::handle_text(object_kind::named_pipe, *only_) +
                            " is not open in process " + std::to_string(pid_));
        if (only_ && objects_.empty())
            throw_error(errc::not_a_pipe, what(pid_, only_) + ": handle " +
                                              detail::handle_text(object_kind::named_pipe, *only_) +
                                              " is not a pipe (holders lists named pipe ends), or its "
                                              "type could not be asked within " +
                                              std::to_string(query_timeout_ms) + " ms");
    }

    void add_target_handle(const table_entry& e, unique_handle dup, const pipe_facts& f) {
        object_end end = end_from_access(access_of(e, dup.get()));
        for (auto& t : objects_)
            if (t.object.end == end && detail::same_object(t.dup.get(), dup.get())) {
                t.object.handles.push_back(e.value);
                return;
            }
        target_object t;
        t.object.kind = object_kind::named_pipe;
        t.object.handle = e.value;
        t.object.handles = {e.value};
        t.object.object_id = objects_.size() + 1;
        t.object.name = f.name;
        t.object.end = end;
        t.server = f.server;
        t.dup = std::move(dup);
        objects_.push_back(std::move(t));
    }

    pipe_facts facts_of(const table_entry& e, HANDLE dup) {
        auto key = std::pair{e.pid, e.value};
        auto it = facts_.find(key);
        if (it == facts_.end()) it = facts_.emplace(key, bounded_facts(dup)).first;
        return it->second;
    }

    // One handle of the machine: a copy of one of the target's objects, or the other end of one.
    // The target's own handles of an object are skipped for that object only: in another it
    // may be the other end (a process that holds both ends of one pipe).
    void consider(const table_entry& e, holders_report& report) {
        if (!is_file(e) || objects_.empty()) return;
        bool own = e.pid == pid_;
        unique_handle dup = duplicate(e, &report);
        if (!dup) return;
        object_end end = end_from_access(access_of(e, dup.get()));
        std::optional<pipe_facts> f;
        for (auto& t : objects_) {
            if (own && contains(t.object.handles, e.value)) continue;
            if (detail::same_object(t.dup.get(), dup.get())) {
                if (own && end == t.object.end) t.object.handles.push_back(e.value);
                else add_holder(t.object, e, end);
                continue;
            }
            if (t.object.name.empty()) continue;
            if (!f) f = facts_of(e, dup.get());
            if (f->is_pipe && f->server != t.server && f->name == t.object.name) add_holder(t.object, e, end);
        }
    }

    static bool contains(const std::vector<std::int64_t>& handles, std::int64_t value) {
        return std::find(handles.begin(), handles.end(), value) != handles.end();
    }

    // The table's access mask; if it is 0 (not told), the duplicate's (same access).
    static ACCESS_MASK access_of(const table_entry& e, HANDLE dup) {
        ACCESS_MASK access = e.access;
        if (access == 0) (void)detail::granted_access(dup, access);
        return access;
    }

    void add_holder(held_object& o, const table_entry& e, object_end end) {
        auto [rel, gen] = fam_.of(e.pid);
        o.others.push_back({e.pid, command_of(e.pid), e.value, end, rel, gen});
    }

    std::string exe_of(std::int64_t pid) const {
        auto it = procs_.find(pid);
        return it == procs_.end() ? "?" : it->second.exe;
    }

    const std::string& command_of(std::int64_t pid) {
        auto it = commands_.find(pid);
        if (it == commands_.end()) it = commands_.emplace(pid, command_line_of(pid).value_or(exe_of(pid))).first;
        return it->second;
    }

    std::int64_t pid_;
    std::optional<std::int64_t> only_;
    std::map<std::int64_t, process_info> procs_;
    family fam_;
    handle_table table_;
    std::map<std::int64_t, unique_handle> processes_;
    std::vector<target_object> objects_;
    std::map<std::pair<std::int64_t, std::int64_t>, pipe_facts> facts_;
    std::map<std::int64_t, std::string> commands_;
};

}  // namespace

namespace detail {

holders_report holders_collect(std::int64_t pid, std::optional<std::int64_t> handle) {
    if (!handle) return scan(pid, std::nullopt).run();
    if (*handle <= 0)
        throw_error(std::make_error_code(std::errc::bad_file_descriptor),
                    what(pid, *handle) + ": " + std::to_string(*handle) + " is not a handle value");
    return scan(pid, *handle).run();
}

std::optional<std::size_t> holders_open_handle_count(borrowed_handle h) noexcept {
    PUBLIC_OBJECT_BASIC_INFORMATION info{};
    ULONG len = 0;
    if (!h || ::NtQueryObject(h.get(), ObjectBasicInformation, &info, sizeof info, &len) != 0)
        return std::nullopt;
    return static_cast<std::size_t>(info.HandleCount);
}

}  // namespace detail
}  // namespace tether
