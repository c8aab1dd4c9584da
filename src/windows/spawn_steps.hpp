// Internal, Windows only: the steps spawn_impl (src/windows/spawn.cpp) takes before and around
// CreateProcessW, each in the file named above it. A step that fails sets `what` to the input
// or the step that was wrong.
#pragma once

#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <windows.h>

namespace tether::detail {

/// GetLastError() as an error_code, with `what` set to `text`.
inline std::error_code os_error(std::string& what, std::string text) {
    auto ec = last_os_error();
    what = std::move(text);
    return ec;
}

// program_search.cpp

/// The file `opt.argv[0]` names, into `application`: a path as given (".exe" added to a last
/// part without an extension, if no such file exists), a bare name searched for in the child's
/// PATH, our executable's directory, System32, the Windows directory and our PATH.
std::error_code resolve_program(const spawn_options& opt, std::wstring& application, std::string& what);

/// System32 (`windows` false) or the Windows directory (true); empty if it cannot be read.
std::wstring system_dir(bool windows);

// command_line.cpp

/// The command line for `argv` into `command_line`, once no argument fails the WorstFit check
/// (check_best_fit with the ANSI code page). A batch file `application` is run by System32's
/// cmd.exe, which then becomes `application`, with arguments cmd.exe would not interpret.
std::error_code build_command_line(const std::vector<std::string>& argv, std::wstring& application,
                                   std::wstring& command_line, std::string& what);

// environment_block.cpp

/// "NAME=value" strings -> a CREATE_UNICODE_ENVIRONMENT block (double-NUL-terminated), sorted
/// by name without case as CreateProcess documents ("=C:=C:\dir" sorts by "=C:").
std::wstring environment_block(const std::vector<std::string>& env);

// child_job.cpp

struct process_tree;

/// A job for a child with a group of its own or kill_on_parent_exit, into `tree` (left empty
/// otherwise): unnamed and not inheritable, so only we hold it (a KILL_ON_JOB_CLOSE job then
/// dies exactly when we do).
std::error_code make_child_job(const spawn_options& opt, std::shared_ptr<process_tree>& tree, std::string& what);

/// CREATE_BREAKAWAY_FROM_JOB if we are in a job that lets a child break away, else 0: a
/// detached child leaves our job too where it may (a job with SILENT_BREAKAWAY_OK lets it go
/// without the flag).
DWORD breakaway_flag();

/// Puts the child, created suspended, into `tree`'s job, then lets it run; a child that cannot
/// be is terminated, not left. Nothing to do without a tree.
std::error_code start_in_job(const process_tree* tree, const PROCESS_INFORMATION& pi, std::string& what);

}  // namespace tether::detail
