// Portable: the public functions that report facts about this process, over the backend's
// OS facts (backend.hpp, section 6).
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/backend.hpp"

namespace tether {

std::string current_executable_path() {
    std::error_code ec;
    std::string what;
    auto path = detail::executable_path(ec, what);
    if (ec) throw_error(ec, what);
    return path;
}

}  // namespace tether
