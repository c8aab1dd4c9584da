// Internal, Windows only: the steps spawn_impl (src/windows/spawn.cpp) takes before and around
// CreateProcessW, each in the file named above it. On failure each sets `what` to the input or
// the step that was wrong.
#pragma once

#include <tether/error.hpp>
#include <tether/spawn.hpp>

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

}  // namespace tether::detail
