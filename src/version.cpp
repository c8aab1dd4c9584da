// Portable: the version compiled into the library (tether/version.hpp).
#include <tether/version.hpp>

namespace tether {

const char* library_version() noexcept { return TETHER_VERSION_STRING; }

}  // namespace tether
