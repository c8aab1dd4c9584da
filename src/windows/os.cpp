// Windows backend: process facts for the portable code (environment, ids, adopting inherited
// handles) and the UTF-8 <-> UTF-16 boundary.
#include "detail/backend.hpp"
#include "windows/win.hpp"

#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/manifest.hpp"

#include <bcrypt.h>
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

bool has_descriptor_numbers() noexcept { return false; }
bool environment_names_fold_case() noexcept { return true; }

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

void unset_environment_variable(std::string_view name) {
    ::SetEnvironmentVariableW(widen(name).c_str(), nullptr);
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

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

// The first 128 bits of SHA-256 of `data`, in hex; empty if BCrypt fails.
std::string sha256_128(const void* data, ULONG size) {
    BCRYPT_ALG_HANDLE alg = nullptr;
    if (::BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, nullptr, 0) != 0) return {};
    BCRYPT_HASH_HANDLE hash = nullptr;
    unsigned char digest[32] = {};
    bool ok = ::BCryptCreateHash(alg, &hash, nullptr, 0, nullptr, 0, 0) == 0 &&
              ::BCryptHashData(hash, static_cast<PUCHAR>(const_cast<void*>(data)), size, 0) == 0 &&
              ::BCryptFinishHash(hash, digest, sizeof digest, 0) == 0;
    if (hash != nullptr) ::BCryptDestroyHash(hash);
    ::BCryptCloseAlgorithmProvider(alg, 0);
    return ok ? hex(digest, 16) : std::string();
}

// Disk files: the volume serial number and the 128-bit file id (FileIdInfo), or the 64-bit
// file index where the file system has no FileIdInfo.
std::string file_id_identity(native_handle h) {
    FILE_ID_INFO id{};
    if (::GetFileInformationByHandleEx(h, FileIdInfo, &id, sizeof id)) {
        unsigned long long vol = id.VolumeSerialNumber;
        return "2." + hex(reinterpret_cast<const unsigned char*>(&vol), sizeof vol) + "." +
               hex(id.FileId.Identifier, sizeof id.FileId.Identifier);
    }
    BY_HANDLE_FILE_INFORMATION info{};
    if (!::GetFileInformationByHandle(h, &info)) return {};
    unsigned long long index = (static_cast<unsigned long long>(info.nFileIndexHigh) << 32) | info.nFileIndexLow;
    unsigned long long vol = info.dwVolumeSerialNumber;
    return "3." + hex(reinterpret_cast<const unsigned char*>(&vol), sizeof vol) + "." +
           hex(reinterpret_cast<const unsigned char*>(&index), sizeof index);
}

// Named objects (tether's pipes, CreatePipe's on older Windows, events, ...): a hash of the
// object's full name (NtQueryObject(ObjectNameInformation), e.g. \Device\NamedPipe\tether-...).
std::string name_identity(native_handle h) {
    auto text = object_name(h);
    // An unnamed pipe answers with the bare device path: no identity in that.
    if (text.empty() || text.back() == L'\\') return {};
    return "1." + sha256_128(text.data(), static_cast<ULONG>(text.size() * sizeof(wchar_t)));
}

}  // namespace

// CompareObjectHandles (kernelbase, Windows 10; MinGW has no import for it), else ntdll's
// NtCompareObjects under it. Both are implemented by wine 8.
bool same_object(HANDLE a, HANDLE b) {
    using compare_fn = BOOL(WINAPI*)(HANDLE, HANDLE);
    using nt_compare_fn = NTSTATUS(NTAPI*)(HANDLE, HANDLE);
    static const auto compare = [] {
        HMODULE kb = ::GetModuleHandleW(L"kernelbase.dll");
        return kb ? reinterpret_cast<compare_fn>(reinterpret_cast<void*>(::GetProcAddress(kb, "CompareObjectHandles"))) : nullptr;
    }();
    static const auto nt_compare = [] {
        HMODULE nt = ::GetModuleHandleW(L"ntdll.dll");
        return nt ? reinterpret_cast<nt_compare_fn>(reinterpret_cast<void*>(::GetProcAddress(nt, "NtCompareObjects"))) : nullptr;
    }();
    if (compare) return compare(a, b) != FALSE;
    return nt_compare && nt_compare(a, b) == 0;
}

std::wstring object_name(native_handle h) {
    alignas(8) unsigned char buf[2048];
    ULONG len = 0;
    constexpr auto object_name_information = static_cast<OBJECT_INFORMATION_CLASS>(1);
    if (::NtQueryObject(h, object_name_information, buf, sizeof buf, &len) != 0) return {};
    const auto* name = reinterpret_cast<const UNICODE_STRING*>(buf);
    if (name->Buffer == nullptr) return {};
    return std::wstring(name->Buffer, name->Length / sizeof(wchar_t));
}

// A process's parent id never changes on Windows, but ids are recycled: the identity is what
// tells the child that the number in its manifest still names the object its parent passed.
// Queried once per entry, when the manifest is first read (the name query is an I/O request,
// which waits behind synchronous I/O on the same file object).
std::string handle_identity(native_handle h) {
    DWORD flags = 0;
    if (!is_valid_native(h) || !::GetHandleInformation(h, &flags)) return {};
    if (::GetFileType(h) == FILE_TYPE_DISK) {
        auto id = file_id_identity(h);
        if (!id.empty()) return id;
    }
    return name_identity(h);
}

std::string executable_path(std::error_code& ec, std::string& what) {
    std::wstring buf(MAX_PATH, L'\0');
    for (;;) {
        DWORD n = ::GetModuleFileNameW(nullptr, buf.data(), static_cast<DWORD>(buf.size()));
        if (n == 0) {
            ec = last_system_error();
            what = "GetModuleFileNameW";
            return {};
        }
        if (n < buf.size()) {
            buf.resize(n);
            return narrow(buf);
        }
        buf.resize(buf.size() * 2);  // truncated: ERROR_INSUFFICIENT_BUFFER; try a larger one
    }
}

}  // namespace detail

}  // namespace tether
