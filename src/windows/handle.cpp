// Windows backend: owning HANDLEs.
#include <tether/error.hpp>
#include <tether/handle.hpp>

#include "detail/manifest.hpp"
#include "windows/win.hpp"

namespace tether {

void unique_handle::reset(native_handle h) noexcept {
    if (h == h_) return;  // resetting to the value we own must not close it under ourselves
    native_handle old = std::exchange(h_, h);
    // A failed CloseHandle is not retried: the value may already name someone else's handle.
    if (is_valid_native(old)) ::CloseHandle(old);
}

unique_handle borrowed_handle::duplicate(std::error_code& ec) const noexcept {
    if (!is_valid_native(h_)) {
        // INVALID_HANDLE_VALUE is also the current-process pseudo-handle: DuplicateHandle would
        // happily return a handle to our own process.
        ec = detail::win_error(ERROR_INVALID_HANDLE);
        return {};
    }
    HANDLE copy = nullptr;
    // bInheritHandle=FALSE: the copy is non-inheritable from birth, never fixed up afterwards.
    if (!::DuplicateHandle(::GetCurrentProcess(), h_, ::GetCurrentProcess(), &copy, 0, FALSE,
                           DUPLICATE_SAME_ACCESS)) {
        ec = last_os_error();
        return {};
    }
    ec.clear();
    return unique_handle(copy);
}


std::string to_handle_string(borrowed_handle h) { return detail::format_handle_value(h.get()); }

bool is_inheritable(borrowed_handle h) {
    DWORD flags = 0;
    if (!::GetHandleInformation(h.get(), &flags))
        throw_error(last_os_error(), "is_inheritable(" + detail::describe_handle(h.get()) + ")");
    return (flags & HANDLE_FLAG_INHERIT) != 0;
}

std::error_code last_os_error() noexcept { return detail::win_error(::GetLastError()); }

}  // namespace tether
