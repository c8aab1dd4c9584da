// Any POSIX system: owning descriptors.
#include <tether/error.hpp>
#include <tether/handle.hpp>

#include "detail/manifest.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace tether {

void unique_handle::reset(native_handle h) noexcept {
    if (h == h_) return;  // resetting to the value we own must not close it under ourselves
    native_handle old = std::exchange(h_, h);
    // Never retry close(): on Linux the descriptor is released even when close() reports EINTR,
    // and a retry could close a number another thread has just been given.
    if (old >= 0) ::close(old);
}

unique_handle borrowed_handle::duplicate(std::error_code& ec) const noexcept {
    int fd = ::fcntl(h_, F_DUPFD_CLOEXEC, 0);  // non-inheritable from birth, no fix-up
    if (fd < 0) {
        ec = last_os_error();
        return {};
    }
    ec.clear();
    return unique_handle(fd);
}

std::string to_handle_string(borrowed_handle h) { return detail::format_handle_value(h.get()); }

bool is_inheritable(borrowed_handle h) {
    int flags = ::fcntl(h.get(), F_GETFD);
    if (flags < 0) throw_error(last_os_error(), "is_inheritable(descriptor " + std::to_string(h.get()) + ")");
    return (flags & FD_CLOEXEC) == 0;
}

std::error_code last_os_error() noexcept { return {errno, std::system_category()}; }

}  // namespace tether
