// Internal, Windows only: text conversion at the Win32 boundary and small helpers shared by the
// backend's files. Everything in tether is UTF-8; every Win32 call we make is the wide (W) one.
#pragma once

#include <tether/handle.hpp>

#include <string>
#include <string_view>
#include <system_error>

#include <windows.h>

namespace tether::detail {

/// UTF-8 -> UTF-16. Invalid UTF-8 becomes U+FFFD (Windows' own conversion rule).
std::wstring widen(std::string_view s);
/// UTF-16 -> UTF-8. Unpaired surrogates become U+FFFD.
std::string narrow(std::wstring_view s);

/// The GetLastError() value `err` as an error_code in std::system_category().
inline std::error_code win_error(DWORD err) noexcept {
    return {static_cast<int>(err), std::system_category()};
}

/// The handle as "handle 123" for messages.
std::string describe_handle(native_handle h);

/// True for the console pseudo-handles of Windows 7 and older (values ending in binary 11):
/// they name nothing in the kernel and can neither be duplicated nor listed for inheritance.
inline bool is_console_pseudo_handle(native_handle h) noexcept {
    return (reinterpret_cast<std::uintptr_t>(h) & 3) == 3;  // NOLINT: handle value bits
}

/// Whether the handle was opened for synchronous I/O (no FILE_FLAG_OVERLAPPED), from
/// NtQueryInformationFile(FileModeInformation). Non-file handles count as synchronous.
bool is_synchronous_handle(native_handle h) noexcept;

/// The access rights the handle was opened with (NtQueryObject(ObjectBasicInformation)).
/// @returns false if the query failed.
bool granted_access(native_handle h, ACCESS_MASK& out) noexcept;

/// A new unguessable pipe name, \\.\pipe\tether-<kind><pid>-<n>-<128 random bits>.
std::wstring unique_pipe_name(const wchar_t* kind);

}  // namespace tether::detail
