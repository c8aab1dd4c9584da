// Linux: process facts that need /proc.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include <string>
#include <unistd.h>

namespace tether {

std::string current_executable_path() {
    std::string buf(4096, '\0');
    ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size());
    if (n < 0) throw_error(last_os_error(), "readlink /proc/self/exe");
    buf.resize(static_cast<std::size_t>(n));
    return buf;
}

}  // namespace tether
