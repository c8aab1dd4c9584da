// Windows backend of holders(): not implemented yet. It would need the system handle table
// (NtQuerySystemInformation(SystemExtendedHandleInformation)) and NtQueryObject to tell pipe
// ends apart; until that is built and testable under wine, holders is Linux-only and says so.
#include <tether/error.hpp>
#include <tether/handle.hpp>
#include <tether/holders.hpp>

#include <string>

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

}  // namespace tether
