// Windows backend: the system calls behind owning and duplicating HANDLEs (backend.hpp,
// section 1; the public functions are src/handle_common.cpp's).
#include "detail/backend.hpp"
#include "windows/win.hpp"

namespace tether::detail {

void handle_close(native_handle h) noexcept { ::CloseHandle(h); }

native_handle handle_duplicate(native_handle h, std::error_code& ec) noexcept {
    if (!is_valid_native(h)) {
        // INVALID_HANDLE_VALUE is also the current-process pseudo-handle: DuplicateHandle would
        // happily return a handle to our own process.
        ec = win_error(ERROR_INVALID_HANDLE);
        return invalid_native_handle();
    }
    HANDLE copy = nullptr;
    // bInheritHandle=FALSE: the copy is non-inheritable from birth, never fixed up afterwards.
    if (!::DuplicateHandle(::GetCurrentProcess(), h, ::GetCurrentProcess(), &copy, 0, FALSE,
                           DUPLICATE_SAME_ACCESS)) {
        ec = last_system_error();
        return invalid_native_handle();
    }
    return copy;
}

bool handle_inheritable(native_handle h, std::error_code& ec) noexcept {
    DWORD flags = 0;
    if (!::GetHandleInformation(h, &flags)) {
        ec = last_system_error();
        return false;
    }
    return (flags & HANDLE_FLAG_INHERIT) != 0;
}

std::error_code last_system_error() noexcept { return win_error(::GetLastError()); }

}  // namespace tether::detail
