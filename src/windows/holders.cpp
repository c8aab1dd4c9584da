// Windows backend of holders(): not implemented yet. It would need the system handle table
// (NtQuerySystemInformation(SystemExtendedHandleInformation)) and NtQueryObject to tell pipe
// ends apart; until that is built and testable under wine, holders is Linux-only and says so.
// open_handle_count() is here: the kernel keeps a handle count per object and tells it.
#include "windows/win.hpp"

#include <tether/error.hpp>
#include <tether/handle.hpp>
#include <tether/holders.hpp>

#include <string>

#include <winternl.h>

namespace tether {
namespace {

[[noreturn]] void not_on_windows(const std::string& call) {
    throw_error(errc::not_supported,
                call + ": holders is Linux-only for now (Windows would need the system handle table)");
}

}  // namespace

holders_report holders(std::int64_t pid) { not_on_windows("holders(" + std::to_string(pid) + ")"); }

holders_report holders(std::int64_t pid, int fd) {
    not_on_windows("holders(" + std::to_string(pid) + ", " + std::to_string(fd) + ")");
}

std::optional<std::size_t> open_handle_count(borrowed_handle h) noexcept {
    PUBLIC_OBJECT_BASIC_INFORMATION info{};
    ULONG len = 0;
    if (!h || ::NtQueryObject(h.get(), ObjectBasicInformation, &info, sizeof info, &len) != 0)
        return std::nullopt;
    return static_cast<std::size_t>(info.HandleCount);
}

}  // namespace tether
