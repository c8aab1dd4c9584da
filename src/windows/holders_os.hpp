// Internal, Windows: what the system tells holders (src/windows/holders_handles.cpp,
// src/windows/holders_processes.cpp). The report (src/windows/holders.cpp) asks these and
// nothing else of the system; they know nothing of reports or verdicts.
//
//   NtQuerySystemInformation(SystemExtendedHandleInformation, else SystemHandleInformation)
//       every handle on the machine: owner PID, value, granted access, object type index
//   NtQueryInformationFile(FilePipeLocalInformation), NtQueryObject(ObjectNameInformation)
//       a pipe handle's end (server or client) and the pipe's name, bounded in time
//   CreateToolhelp32Snapshot, GetProcessTimes, the command line: processes and parents
#pragma once

#include "windows/win.hpp"

#include <tether/handle.hpp>
#include <tether/holders.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tether::detail::holders_os {

/// How long one per-handle file query may take before it is left behind (see holders_handles.cpp).
inline constexpr DWORD query_timeout_ms = 250;

// ---- The system handle table (holders_handles.cpp) ----

struct table_entry {
    std::int64_t pid;
    std::int64_t value;
    ACCESS_MASK access;
    unsigned type;
};

// The table, and the type index of File objects (found with a probe handle of our own to NUL).
struct handle_table {
    std::vector<table_entry> entries;
    std::optional<unsigned> file_type;
};

/// Every handle on the machine now. Throws errc::not_supported if the system tells none.
handle_table take_table();

// ---- Per-handle facts, bounded in time (holders_handles.cpp) ----

struct pipe_facts {
    bool answered{false};  ///< false: the query timed out or failed
    bool is_pipe{false};
    bool server{false};
    std::string name;
};

/// The facts of `h` (a handle of this process), asked in a helper thread and waited for at most
/// query_timeout_ms: a query on a synchronous handle can hang while its holder reads from it.
pipe_facts bounded_facts(HANDLE h);

/// A pipe handle's end from its access mask: FILE_READ_DATA only, FILE_WRITE_DATA only, or both.
object_end end_from_access(ACCESS_MASK access);

// ---- Processes: names, command lines, parents (holders_processes.cpp) ----

struct process_info {
    std::int64_t parent{0};
    std::string exe;
};

/// Every process now, by PID: its parent's PID and its executable's name.
std::map<std::int64_t, process_info> process_snapshot();

/// OpenProcess(access) of `pid`; empty with GetLastError() set if refused
/// (a test hook, test_hooks::holders_refuse_open, refuses one PID as real Windows would).
unique_handle open_process(std::int64_t pid, DWORD access);

/// When `pid` was created (FILETIME ticks), or nullopt if it may not be asked.
std::optional<std::uint64_t> creation_time(std::int64_t pid);

/// ProcessCommandLineInformation (Windows 8.1+), else the PEB; nullopt if the process does not tell.
std::optional<std::string> command_line_of(std::int64_t pid);

}  // namespace tether::detail::holders_os
