// Internal, Windows only: text conversion at the Win32 boundary and small helpers shared by the
// backend's files. Everything in tether is UTF-8; every Win32 call we make is the wide (W) one.
#pragma once

#include <tether/handle.hpp>

#include <string>
#include <string_view>
#include <vector>
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

/// FILE_PIPE_LOCAL_INFORMATION (ntifs.h, which MinGW does not ship): a pipe end's quotas,
/// what waits in it, and its state (3 connected, 4 closing: the other end is closed).
struct pipe_local_information {
    ULONG type, configuration, maximum_instances, current_instances, inbound_quota, read_data_available,
        outbound_quota, write_quota_available, state, end;
};

/// NtQueryInformationFile(FilePipeLocalInformation) of `pipe`. @returns false if the query
/// failed (no pipe, or no rights to ask).
bool query_pipe_local(HANDLE pipe, pipe_local_information& out) noexcept;

/// The access rights the handle was opened with (NtQueryObject(ObjectBasicInformation)).
/// @returns false if the query failed.
bool granted_access(native_handle h, ACCESS_MASK& out) noexcept;

/// WorstFit: errc::unsafe_argument, with `what` naming the argument and the character, if best-fit
/// mapping to the ANSI code page `code_page` (as GetCommandLineA does for a narrow main()) turns
/// a character of one of `argv` into ASCII punctuation or a blank (detail::check_best_fit_char).
std::error_code check_best_fit(const std::vector<std::string>& argv, unsigned code_page, std::string& what);

/// A new unguessable pipe name, \\.\pipe\tether-<kind><pid>-<n>-<128 random bits>; empty,
/// with `ec` set to BCryptGenRandom's status as a Win32 error, if the random source failed.
std::wstring unique_pipe_name(const wchar_t* kind, std::error_code& ec);

/// The server and client ends of a new pipe instance, and its name.
struct pipe_instance {
    unique_handle server;
    unique_handle client;
    std::wstring name;
    const char* failed{nullptr};  ///< on failure, if set: the step that failed (for the message)
};

/// How to create a pipe instance (CreateNamedPipeW's and CreateFileW's arguments).
struct pipe_instance_spec {
    const wchar_t* kind{L""};   ///< goes into the name (unique_pipe_name)
    DWORD server_mode{0};       ///< PIPE_ACCESS_* and FILE_FLAG_OVERLAPPED
    DWORD pipe_mode{0};         ///< PIPE_TYPE_* and PIPE_READMODE_*
    DWORD buffer_size{0};       ///< in and out quota
    DWORD client_access{0};     ///< CreateFileW's dwDesiredAccess for the client
    DWORD client_flags{0};      ///< CreateFileW's flags for the client (FILE_FLAG_OVERLAPPED or 0)
};

/// Creates a pipe instance that only we can have opened: owner-only DACL (the current user's
/// SID from our token), FILE_FLAG_FIRST_PIPE_INSTANCE, one instance, PIPE_REJECT_REMOTE_CLIENTS,
/// neither end inheritable, the client opened at once and checked to be our own process. A name
/// that exists already (a squatter's instance) is never connected to: the next attempt takes a
/// fresh random name (tests plant a squatter on the first name: test_hooks.hpp). Clear `ec`
/// on success.
pipe_instance create_pipe_instance(const pipe_instance_spec& spec, std::error_code& ec);

/// The owner-only security descriptor create_pipe_instance gives every pipe, built once
/// ("D:P(A;;GA;;;<user SID>)"); nullptr, with `ec` set, if our token could not be read.
PSECURITY_DESCRIPTOR owner_only_security(std::error_code& ec);

/// True if `a` and `b` name the same kernel object, whatever rights either holds
/// (CompareObjectHandles, else NtCompareObjects); false if neither is available.
bool same_object(HANDLE a, HANDLE b);

/// The kernel object's full name (NtQueryObject(ObjectNameInformation), e.g.
/// \Device\NamedPipe\tether-...); empty if it has none or the query failed.
std::wstring object_name(native_handle h);

}  // namespace tether::detail
