// Windows backend of holders(): facts from the system handle table.
//
//   NtQuerySystemInformation(SystemExtendedHandleInformation, else SystemHandleInformation)
//       every handle on the machine: owner PID, value, granted access, object type index (wine 8
//       answers with PIDs, values, access and types, but a NULL Object address)
//   DuplicateHandle     a copy of each File handle of every process we may open (PROCESS_DUP_HANDLE)
//   CompareObjectHandles  equal = the same kernel object: the copies of one pipe end
//   NtQueryInformationFile(FilePipeLocalInformation)  server or client end; the access bits
//       FILE_READ_DATA / FILE_WRITE_DATA tell the read end from the write end
//   NtQueryObject(ObjectNameInformation)  the pipe's name, shared by both ends: the other end
//   CreateToolhelp32Snapshot  parent PIDs and executable names; GetProcessTimes: a "parent"
//       created after its child is a newer process that reused the PID, not the parent
//
// A query on a synchronous file handle waits for the file object's lock, so on real Windows it
// hangs while another thread of the holder sits in a ReadFile on it. Every per-handle file query
// (type, pipe end, name) therefore runs in a helper thread bounded by query_timeout, for every
// handle, ours too (our own program may be the one blocked in a read: that is when it calls
// holders()). A query that times out leaves its thread and its handle duplicate behind until the
// read returns; the handle is then reported as what CompareObjectHandles alone can tell.
#include "windows/win.hpp"

#include <tether/error.hpp>
#include <tether/handle.hpp>
#include <tether/holders.hpp>

#include "detail/holders.hpp"
#include "testing/switches.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <tlhelp32.h>
#include <winternl.h>

namespace tether {
namespace {

constexpr DWORD query_timeout_ms = 250;
constexpr ULONG system_handle_information = 16;
constexpr ULONG system_extended_handle_information = 64;
constexpr NTSTATUS status_info_length_mismatch = static_cast<NTSTATUS>(0xC0000004L);
constexpr ULONG process_command_line_information = 60;

// ---- The system handle table ----

struct table_entry {
    std::int64_t pid;
    std::int64_t value;
    ACCESS_MASK access;
    unsigned type;
};

struct extended_entry {  // SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX
    PVOID object;
    ULONG_PTR pid;
    ULONG_PTR value;
    ULONG access;
    USHORT creator_back_trace_index;
    USHORT type;
    ULONG attributes;
    ULONG reserved;
};

struct legacy_entry {  // SYSTEM_HANDLE_TABLE_ENTRY_INFO
    USHORT pid;
    USHORT creator_back_trace_index;
    UCHAR type;
    UCHAR attributes;
    USHORT value;
    PVOID object;
    ULONG access;
};

// NtQuerySystemInformation(cls) into a buffer grown until the table fits; nullopt if refused.
std::optional<std::vector<std::byte>> query_system(ULONG cls) {
    std::vector<std::byte> buf(std::size_t{1} << 16);
    for (int attempt = 0; attempt < 20; ++attempt) {
        ULONG needed = 0;
        NTSTATUS st = ::NtQuerySystemInformation(static_cast<SYSTEM_INFORMATION_CLASS>(cls), buf.data(),
                                                 static_cast<ULONG>(buf.size()), &needed);
        if (st == status_info_length_mismatch) {
            buf.resize(std::max<std::size_t>(buf.size() * 2, std::size_t{needed} + 65536));
            continue;
        }
        if (st < 0) return std::nullopt;
        return buf;
    }
    return std::nullopt;
}

template <typename Header, typename Entry>
std::vector<table_entry> entries_of(const std::vector<std::byte>& buf, std::size_t header_size) {
    Header count{};
    std::memcpy(&count, buf.data(), sizeof count);
    std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(count), (buf.size() - header_size) / sizeof(Entry));
    std::vector<table_entry> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        Entry e{};
        std::memcpy(&e, buf.data() + header_size + i * sizeof(Entry), sizeof e);
        out.push_back({static_cast<std::int64_t>(e.pid), static_cast<std::int64_t>(e.value), e.access, e.type});
    }
    return out;
}

std::vector<table_entry> system_handles() {
    if (auto buf = query_system(system_extended_handle_information))
        return entries_of<ULONG_PTR, extended_entry>(*buf, 2 * sizeof(ULONG_PTR));
    if (auto buf = query_system(system_handle_information))
        return entries_of<ULONG, legacy_entry>(*buf, sizeof(ULONG_PTR));  // ULONG count, padded
    throw_error(errc::not_supported, "holders: NtQuerySystemInformation gives no system handle table");
}

// The table, and the type index of File objects (found with a probe handle of our own to NUL).
struct handle_table {
    std::vector<table_entry> entries;
    std::optional<unsigned> file_type;
};

handle_table take_table() {
    unique_handle probe(::CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                                      OPEN_EXISTING, 0, nullptr));
    handle_table t{system_handles(), std::nullopt};
    auto self = static_cast<std::int64_t>(::GetCurrentProcessId());
    for (const auto& e : t.entries)
        if (probe && e.pid == self && e.value == handle_to_integer(probe.get())) t.file_type = e.type;
    return t;
}

// ---- Per-handle facts, bounded in time ----

struct pipe_facts {
    bool answered{false};  ///< false: the query timed out or failed
    bool is_pipe{false};
    bool server{false};
    std::string name;
};

struct FILE_PIPE_LOCAL_INFO {  // FILE_PIPE_LOCAL_INFORMATION
    ULONG NamedPipeType, NamedPipeConfiguration, MaximumInstances, CurrentInstances, InboundQuota,
        ReadDataAvailable, OutboundQuota, WriteQuotaAvailable, NamedPipeState, NamedPipeEnd;
};

pipe_facts query_facts(HANDLE h) {
    pipe_facts f;
    f.answered = true;
    if (::GetFileType(h) != FILE_TYPE_PIPE) return f;
    IO_STATUS_BLOCK io{};
    FILE_PIPE_LOCAL_INFO local{};
    if (::NtQueryInformationFile(h, &io, &local, sizeof local, FilePipeLocalInformation) != 0) return f;
    f.is_pipe = true;
    f.server = local.NamedPipeEnd == 1;  // FILE_PIPE_SERVER_END
    alignas(OBJECT_NAME_INFORMATION) std::byte buf[2048];
    ULONG len = 0;
    if (::NtQueryObject(h, ObjectNameInformation, buf, sizeof buf, &len) == 0) {
        const auto* info = reinterpret_cast<const OBJECT_NAME_INFORMATION*>(buf);
        if (info->Name.Buffer)
            f.name = detail::narrow(std::wstring_view(info->Name.Buffer, info->Name.Length / sizeof(wchar_t)));
    }
    return f;
}

// Shared by the caller and the helper thread; whoever lets go last frees it (and the handle).
struct query_job {
    unique_handle h;
    pipe_facts facts;
};

DWORD WINAPI query_thread(void* arg) {
    std::shared_ptr<query_job> job(*static_cast<std::shared_ptr<query_job>*>(arg));
    delete static_cast<std::shared_ptr<query_job>*>(arg);
    pipe_facts f = query_facts(job->h.get());
    job->facts = f;
    return 0;
}

// query_facts(h) in a helper thread, waited for at most query_timeout_ms (see the top).
pipe_facts bounded_facts(HANDLE h) {
    HANDLE copy = nullptr;
    if (!::DuplicateHandle(::GetCurrentProcess(), h, ::GetCurrentProcess(), &copy, 0, FALSE, DUPLICATE_SAME_ACCESS))
        return {};
    auto job = std::make_shared<query_job>();
    job->h.reset(copy);
    auto* arg = new std::shared_ptr<query_job>(job);
    unique_handle thread(::CreateThread(nullptr, 64 * 1024, query_thread, arg, STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr));
    if (!thread) {
        delete arg;
        return {};
    }
    if (::WaitForSingleObject(thread.get(), query_timeout_ms) != WAIT_OBJECT_0) return {};  // left behind
    return job->facts;
}

object_end end_from_access(ACCESS_MASK access) {
    bool r = (access & FILE_READ_DATA) != 0, w = (access & FILE_WRITE_DATA) != 0;
    if (r && !w) return object_end::read;
    if (w && !r) return object_end::write;
    return object_end::both;
}

// ---- Processes: names, command lines, parents ----

struct process_info {
    std::int64_t parent{0};
    std::string exe;
};

std::map<std::int64_t, process_info> process_snapshot() {
    std::map<std::int64_t, process_info> out;
    unique_handle snap(::CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
    if (!snap || snap.get() == INVALID_HANDLE_VALUE) return out;
    PROCESSENTRY32W e{};
    e.dwSize = sizeof e;
    for (BOOL ok = ::Process32FirstW(snap.get(), &e); ok; ok = ::Process32NextW(snap.get(), &e))
        out[e.th32ProcessID] = {static_cast<std::int64_t>(e.th32ParentProcessID), detail::narrow(e.szExeFile)};
    return out;
}

unique_handle open_process(std::int64_t pid, DWORD access) {
    if (pid == detail::test_switches::holders_refused_pid()) {
        ::SetLastError(ERROR_ACCESS_DENIED);
        return {};
    }
    return unique_handle(::OpenProcess(access, FALSE, static_cast<DWORD>(pid)));
}

std::optional<std::uint64_t> creation_time(std::int64_t pid) {
    unique_handle p = open_process(pid, PROCESS_QUERY_LIMITED_INFORMATION);
    FILETIME created{}, exited{}, kernel{}, user{};
    if (!p || !::GetProcessTimes(p.get(), &created, &exited, &kernel, &user)) return std::nullopt;
    return (std::uint64_t{created.dwHighDateTime} << 32) | created.dwLowDateTime;
}

// The command line from the process's PEB (ProcessParameters->CommandLine), read with
// ReadProcessMemory: what wine answers, which has no ProcessCommandLineInformation.
std::optional<std::string> command_line_from_peb(std::int64_t pid) {
    unique_handle p = open_process(pid, PROCESS_QUERY_INFORMATION | PROCESS_VM_READ);
    PROCESS_BASIC_INFORMATION basic{};
    ULONG len = 0;
    if (!p || ::NtQueryInformationProcess(p.get(), ProcessBasicInformation, &basic, sizeof basic, &len) != 0 ||
        !basic.PebBaseAddress)
        return std::nullopt;
    PEB peb{};
    RTL_USER_PROCESS_PARAMETERS params{};
    SIZE_T got = 0;
    if (!::ReadProcessMemory(p.get(), basic.PebBaseAddress, &peb, sizeof peb, &got) || !peb.ProcessParameters ||
        !::ReadProcessMemory(p.get(), peb.ProcessParameters, &params, sizeof params, &got) ||
        !params.CommandLine.Buffer || params.CommandLine.Length == 0)
        return std::nullopt;
    std::wstring text(params.CommandLine.Length / sizeof(wchar_t), L'\0');
    if (!::ReadProcessMemory(p.get(), params.CommandLine.Buffer, text.data(), params.CommandLine.Length, &got))
        return std::nullopt;
    return detail::narrow(text);
}

// ProcessCommandLineInformation (Windows 8.1+), else the PEB; nullopt if the process does not tell.
std::optional<std::string> command_line_of(std::int64_t pid) {
    unique_handle p = open_process(pid, PROCESS_QUERY_LIMITED_INFORMATION);
    if (!p) return std::nullopt;
    std::vector<std::byte> buf(8192);
    ULONG len = 0;
    auto cls = static_cast<PROCESSINFOCLASS>(process_command_line_information);
    if (::NtQueryInformationProcess(p.get(), cls, buf.data(), static_cast<ULONG>(buf.size()), &len) != 0)
        return command_line_from_peb(pid);
    UNICODE_STRING s{};
    std::memcpy(&s, buf.data(), sizeof s);
    if (!s.Buffer || s.Length == 0) return command_line_from_peb(pid);
    return detail::narrow(std::wstring_view(s.Buffer, s.Length / sizeof(wchar_t)));
}

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
        detail::finish_holders_report(report);
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

holders_report holders(std::int64_t pid) { return scan(pid, std::nullopt).run(); }

holders_report holders(std::int64_t pid, std::int64_t handle) {
    if (handle <= 0)
        throw_error(std::make_error_code(std::errc::bad_file_descriptor),
                    what(pid, handle) + ": " + std::to_string(handle) + " is not a handle value");
    return scan(pid, handle).run();
}

std::optional<std::size_t> open_handle_count(borrowed_handle h) noexcept {
    PUBLIC_OBJECT_BASIC_INFORMATION info{};
    ULONG len = 0;
    if (!h || ::NtQueryObject(h.get(), ObjectBasicInformation, &info, sizeof info, &len) != 0)
        return std::nullopt;
    return static_cast<std::size_t>(info.HandleCount);
}

}  // namespace tether
