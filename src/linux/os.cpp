// Linux: process facts that need /proc (backend.hpp, section 6).
#include "detail/backend.hpp"

#include <string>
#include <unistd.h>

namespace tether::detail {

std::string executable_path(std::error_code& ec, std::string& what) {
    std::string buf(4096, '\0');
    ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size());
    if (n < 0) {
        ec = last_system_error();
        what = "readlink /proc/self/exe";
        return {};
    }
    buf.resize(static_cast<std::size_t>(n));
    return buf;
}

}  // namespace tether::detail
