// Windows backend: process facts for the portable code (environment, ids, adopting inherited
// handles) and the UTF-8 <-> UTF-16 boundary.
#include "detail/os.hpp"
#include "windows/win.hpp"

#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/manifest.hpp"

#include <winternl.h>

namespace tether {
namespace detail {

std::wstring widen(std::string_view s) {
    if (s.empty()) return {};
    int n = ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
    std::wstring out(static_cast<std::size_t>(n), L'\0');
    ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), out.data(), n);
    return out;
}

std::string narrow(std::wstring_view s) {
    if (s.empty()) return {};
    int n = ::WideCharToMultiByte(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0,
                                  nullptr, nullptr);
    std::string out(static_cast<std::size_t>(n), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), out.data(), n, nullptr,
                          nullptr);
    return out;
}

std::string describe_handle(native_handle h) { return "handle " + format_handle_value(h); }

bool is_synchronous_handle(native_handle h) noexcept {
    IO_STATUS_BLOCK io{};
    ULONG mode = 0;
    constexpr auto file_mode_information = static_cast<FILE_INFORMATION_CLASS>(16);
    if (::NtQueryInformationFile(h, &io, &mode, sizeof mode, file_mode_information) != 0) return true;
    constexpr ULONG sync_alert = 0x10, sync_nonalert = 0x20;  // FILE_SYNCHRONOUS_IO_*
    return (mode & (sync_alert | sync_nonalert)) != 0;
}

bool granted_access(native_handle h, ACCESS_MASK& out) noexcept {
    PUBLIC_OBJECT_BASIC_INFORMATION info{};
    ULONG len = 0;
    if (::NtQueryObject(h, ObjectBasicInformation, &info, sizeof info, &len) != 0) return false;
    out = info.GrantedAccess;
    return true;
}

std::optional<std::string> get_environment_variable(std::string_view name) {
    std::wstring wname = widen(name);
    std::wstring buf(256, L'\0');
    for (;;) {
        ::SetLastError(ERROR_SUCCESS);
        DWORD n = ::GetEnvironmentVariableW(wname.c_str(), buf.data(), static_cast<DWORD>(buf.size()));
        if (n == 0) {
            if (::GetLastError() == ERROR_ENVVAR_NOT_FOUND) return std::nullopt;
            return std::string();  // set, but empty
        }
        if (n < buf.size()) {
            buf.resize(n);
            return narrow(buf);
        }
        buf.resize(n);  // n is the size needed, terminator included
    }
}

std::vector<std::string> current_environment() {
    std::vector<std::string> env;
    wchar_t* block = ::GetEnvironmentStringsW();
    if (block == nullptr) return env;
    for (const wchar_t* p = block; *p != L'\0';) {
        std::wstring_view entry(p);
        env.push_back(narrow(entry));
        p += entry.size() + 1;
    }
    ::FreeEnvironmentStringsW(block);
    return env;
}

std::int64_t current_pid() noexcept { return ::GetCurrentProcessId(); }

std::int64_t parent_pid() noexcept {
    // The process table keeps the creator's id (with PROC_THREAD_ATTRIBUTE_PARENT_PROCESS, the
    // attribute parent's): tether's spawn writes exactly that id into TETHER_PARENT_PID.
    PROCESS_BASIC_INFORMATION info{};
    ULONG len = 0;
    if (::NtQueryInformationProcess(::GetCurrentProcess(), ProcessBasicInformation, &info, sizeof info,
                                    &len) != 0)
        return -1;
    return static_cast<std::int64_t>(info.InheritedFromUniqueProcessId);
}

std::error_code adopt_inherited(native_handle h) noexcept {
    DWORD flags = 0;
    if (!::GetHandleInformation(h, &flags)) return last_os_error();
    // Inherited handles arrive inheritable. Clearing the flag keeps them out of our own
    // children, so a grandchild can never hold the parent's pipe open.
    if ((flags & HANDLE_FLAG_INHERIT) != 0 && !::SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0))
        return last_os_error();
    return {};
}

std::string signal_name(int /*sig*/) { return {}; }

// Windows records no identity: a process's parent id never changes (no re-parenting to init),
// so TETHER_PARENT_PID alone tells a child from a grandchild. With the handle vault that id is
// the vault's, which is what InheritedFromUniqueProcessId says in the child.
std::string handle_identity(native_handle /*h*/) { return {}; }

}  // namespace detail

std::string current_executable_path() {
    std::wstring buf(MAX_PATH, L'\0');
    for (;;) {
        DWORD n = ::GetModuleFileNameW(nullptr, buf.data(), static_cast<DWORD>(buf.size()));
        if (n == 0) throw_error(last_os_error(), "GetModuleFileNameW");
        if (n < buf.size()) {
            buf.resize(n);
            return detail::narrow(buf);
        }
        buf.resize(buf.size() * 2);  // truncated: ERROR_INSUFFICIENT_BUFFER; try a larger one
    }
}

}  // namespace tether
