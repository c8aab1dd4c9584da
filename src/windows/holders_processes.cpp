// Windows: the processes behind holders (windows/holders_os.hpp) — the Toolhelp32 snapshot
// of PIDs, parents and executable names, creation times (Windows reuses PIDs: a parent created
// after its child is a newer process), and command lines, where the process tells them.
#include "windows/holders_os.hpp"

#include "testing/switches.hpp"

#include <cstddef>
#include <cstring>
#include <vector>

#include <tlhelp32.h>
#include <winternl.h>

namespace tether::detail::holders_os {
namespace {

constexpr ULONG process_command_line_information = 60;

}  // namespace

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

namespace {

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

}  // namespace

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

}  // namespace tether::detail::holders_os
