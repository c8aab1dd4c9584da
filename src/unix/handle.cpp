// Any POSIX system: the system calls behind owning and duplicating descriptors
// (backend.hpp, section 1; the public functions are src/handle_common.cpp's).
#include "detail/backend.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace tether::detail {

void handle_close(native_handle h) noexcept { ::close(h); }

native_handle handle_duplicate(native_handle h, std::error_code& ec) noexcept {
    int fd = ::fcntl(h, F_DUPFD_CLOEXEC, 0);  // non-inheritable from birth, no fix-up
    if (fd < 0) ec = last_system_error();
    return fd;
}

bool handle_inheritable(native_handle h, std::error_code& ec) noexcept {
    int flags = ::fcntl(h, F_GETFD);
    if (flags < 0) {
        ec = last_system_error();
        return false;
    }
    return (flags & FD_CLOEXEC) == 0;
}

std::error_code last_system_error() noexcept { return {errno, std::system_category()}; }

}  // namespace tether::detail
