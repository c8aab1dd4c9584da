// tether/handle.hpp — the one place that names the platform's native handle type.
//
// unique_handle owns a descriptor (POSIX) or a HANDLE (Windows) and closes it exactly once.
// borrowed_handle is a non-owning view, cheap to copy, for functions that only use a handle.
// The pattern is Rust's OwnedFd / BorrowedFd and Chromium's ScopedFD: explicit construction,
// get(), [[nodiscard]] release(), reset(), explicit operator bool, no implicit conversion to the
// raw value.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

namespace tether {

#ifdef _WIN32
/// The native handle type: a Win32 HANDLE, spelled without <windows.h>.
using native_handle = void*;
/// The value that means "no handle": INVALID_HANDLE_VALUE.
inline native_handle invalid_native_handle() noexcept {
    return reinterpret_cast<native_handle>(static_cast<std::intptr_t>(-1));  // NOLINT
}
/// Win32 APIs disagree on "no handle" (NULL or INVALID_HANDLE_VALUE); both count as none.
inline bool is_valid_native(native_handle h) noexcept {
    return h != nullptr && h != invalid_native_handle();
}
/// The largest value a handle can have: kernel handles are 32-bit significant even in 64-bit
/// processes (so that 32- and 64-bit processes can share them).
inline constexpr std::uint64_t max_handle_value = 0xFFFFFFFFu;
/// A handle's value as a number, for its text form (the .NET handle string), and back.
inline std::int64_t handle_to_integer(native_handle h) noexcept {
    return static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(h));  // NOLINT: a handle value
}
/// The handle whose value is `v` (at most max_handle_value).
inline native_handle handle_from_integer(std::uint64_t v) noexcept {
    return reinterpret_cast<native_handle>(static_cast<std::intptr_t>(v));  // NOLINT: a handle value
}
#else
/// The native handle type: a POSIX file descriptor.
using native_handle = int;
/// The value that means "no handle".
constexpr native_handle invalid_native_handle() noexcept { return -1; }
/// @returns true for a value that can name a descriptor (>= 0).
inline bool is_valid_native(native_handle h) noexcept { return h >= 0; }
/// The largest value a descriptor can have.
inline constexpr std::uint64_t max_handle_value = 0x7FFFFFFFu;
/// A descriptor's value as a number, for its text form, and back.
inline std::int64_t handle_to_integer(native_handle h) noexcept { return h; }
/// The descriptor whose value is `v` (at most max_handle_value).
inline native_handle handle_from_integer(std::uint64_t v) noexcept { return static_cast<native_handle>(v); }
#endif

class unique_handle;

/// A non-owning view of a handle. It never closes anything; the owner must outlive it.
class borrowed_handle {
public:
    /// A view of no handle.
    borrowed_handle() noexcept = default;
    /// A view of the native handle `h`, which someone else owns.
    explicit borrowed_handle(native_handle h) noexcept : h_(h) {}
    /// A view of the handle `owner` holds (implicit: any API taking a view takes an owner).
    borrowed_handle(const unique_handle& owner) noexcept;  // NOLINT: a view of an owner is safe

    /// @returns the native handle (invalid_native_handle() for a view of none).
    [[nodiscard]] native_handle get() const noexcept { return h_; }
    /// @returns true if the view names a handle.
    [[nodiscard]] explicit operator bool() const noexcept { return is_valid_native(h_); }

    /// An owner of its own of the same kernel object, never inheritable (F_DUPFD_CLOEXEC /
    /// DuplicateHandle with bInheritHandle=FALSE), as Rust's BorrowedFd::try_clone_to_owned.
    /// @throws std::system_error naming the handle if it cannot be duplicated.
    [[nodiscard]] unique_handle duplicate() const;
    /// As duplicate(), reporting failure in `ec` (and returning an empty owner) instead of throwing.
    [[nodiscard]] unique_handle duplicate(std::error_code& ec) const noexcept;

private:
    native_handle h_{invalid_native_handle()};
};

/// Move-only owner of one handle. The destructor closes it; a close error is not retried,
/// because after a failed close the number may already belong to someone else.
class unique_handle {
public:
    unique_handle() noexcept = default;
    /// Takes ownership of `h`, which must be open and owned by nobody else (or invalid).
    explicit unique_handle(native_handle h) noexcept : h_(h) {}
    /// Takes over `other`'s handle; `other` holds none afterwards.
    unique_handle(unique_handle&& other) noexcept : h_(other.release()) {}
    /// Closes the current handle, then takes over `other`'s.
    unique_handle& operator=(unique_handle&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    unique_handle(const unique_handle&) = delete;
    unique_handle& operator=(const unique_handle&) = delete;
    ~unique_handle() { reset(); }

    /// @returns the native handle, still owned here (invalid_native_handle() if none).
    [[nodiscard]] native_handle get() const noexcept { return h_; }
    /// @returns a non-owning view of the handle.
    [[nodiscard]] borrowed_handle borrow() const noexcept { return borrowed_handle(h_); }
    /// Gives up ownership without closing; the caller now owns the returned value.
    [[nodiscard]] native_handle release() noexcept { return std::exchange(h_, invalid_native_handle()); }
    /// Closes the current handle (if any) and takes `h`.
    void reset(native_handle h = invalid_native_handle()) noexcept;
    /// @returns true if a handle is owned.
    [[nodiscard]] explicit operator bool() const noexcept { return is_valid_native(h_); }

    /// A second, independent owner of the same kernel object, never inheritable
    /// (F_DUPFD_CLOEXEC / DuplicateHandle with bInheritHandle=FALSE).
    /// @throws std::system_error if the handle cannot be duplicated.
    [[nodiscard]] unique_handle duplicate() const;
    /// As duplicate(), reporting failure in `ec` (and returning an empty owner) instead of throwing.
    [[nodiscard]] unique_handle duplicate(std::error_code& ec) const noexcept;

private:
    native_handle h_{invalid_native_handle()};
};

inline borrowed_handle::borrowed_handle(const unique_handle& owner) noexcept : h_(owner.get()) {}

/// The handle's value as text, in decimal: the form .NET's GetClientHandleAsString() uses,
/// so a handle string is the same for a tether and a .NET peer.
std::string to_handle_string(borrowed_handle h);

/// True if the handle may be inherited by a child process (FD_CLOEXEC clear /
/// HANDLE_FLAG_INHERIT set). tether never creates such a handle; this is for tests and audits.
/// @throws std::system_error if the handle is not open.
bool is_inheritable(borrowed_handle h);

}  // namespace tether
