// Windows backend: the channel server's trust checks on what a peer names (channel_trust.hpp).
#include "windows/channel_trust.hpp"

#include <tether/handle.hpp>

#include "windows/win.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>
#include <winternl.h>

namespace tether::detail {

bool plausible_handle_value(std::uint64_t v) noexcept {
    auto h = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v));  // NOLINT: a handle value
    return v != 0 && v <= UINT32_MAX && v % 4 == 0 && is_valid_native(h);
}

bool repeats_a_value(std::span<const std::uint64_t> values) noexcept {
    for (std::size_t i = 0; i < values.size(); ++i)
        if (std::find(values.begin() + static_cast<std::ptrdiff_t>(i) + 1, values.end(), values[i]) != values.end())
            return true;
    return false;
}

namespace {
std::mutex clients_mutex;
std::vector<HANDLE>& clients() {
    static std::vector<HANDLE> open;  // in-process client ends, by value
    return open;
}
}  // namespace

void in_process_client_opened(HANDLE h) {
    std::lock_guard lock(clients_mutex);
    clients().push_back(h);
}

void in_process_client_closed(HANDLE h) noexcept {
    std::lock_guard lock(clients_mutex);
    auto& c = clients();
    if (auto it = std::find(c.begin(), c.end(), h); it != c.end()) c.erase(it);
}

bool is_in_process_client(std::uint64_t value) {
    auto h = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(value));  // NOLINT: a handle value
    std::lock_guard lock(clients_mutex);
    const auto& c = clients();
    return std::find(c.begin(), c.end(), h) != c.end();
}

namespace {

// The kernel object type of `h` ("Process", "Thread", "File", ...); empty if the query failed.
std::wstring object_type(HANDLE h) {
    alignas(8) unsigned char buf[512];
    ULONG len = 0;
    if (::NtQueryObject(h, ObjectTypeInformation, buf, sizeof buf, &len) != 0) return {};
    const auto* info = reinterpret_cast<const PUBLIC_OBJECT_TYPE_INFORMATION*>(buf);
    return std::wstring(info->TypeName.Buffer, info->TypeName.Length / sizeof(wchar_t));
}

}  // namespace

// Synchronous handles are refused first: a query on one waits behind synchronous I/O another
// thread of the claimed process may have blocked on it, and our channel's client end is
// overlapped (channel_open refuses a synchronous one).
bool is_our_client_end(HANDLE h, HANDLE server) {
    if (is_synchronous_handle(h) || ::GetFileType(h) != FILE_TYPE_PIPE) return false;
    DWORD flags = 0;
    if (!::GetNamedPipeInfo(h, &flags, nullptr, nullptr, nullptr) || (flags & PIPE_SERVER_END) != 0) return false;
    auto name = object_name(h);
    return !name.empty() && name == object_name(server);
}

bool names_our_process_or_thread(HANDLE h) noexcept {
    if (same_object(h, ::GetCurrentProcess())) return true;
    std::wstring type;
    try {
        type = object_type(h);
    } catch (...) {
        return true;  // cannot tell: not accepted
    }
    // (A process handle without query rights cannot say its id: same_object told above.)
    if (type == L"Process") return ::GetProcessId(h) == ::GetCurrentProcessId();
    if (type == L"Thread") {
        DWORD pid = ::GetProcessIdOfThread(h);
        return pid == 0 || pid == ::GetCurrentProcessId();
    }
    return false;
}

}  // namespace tether::detail
