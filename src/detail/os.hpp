// Internal: the small set of process facts each backend (src/unix and src/linux, src/windows) provides to
// the portable code. Same names in both backends.
#pragma once

#include <tether/handle.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tether::detail {

/// A variable of our environment (UTF-8), or nullopt.
std::optional<std::string> get_environment_variable(std::string_view name);
/// Removes a variable from our environment (no effect if it is not set).
void unset_environment_variable(std::string_view name);
/// Our whole environment as "NAME=value" (UTF-8).
std::vector<std::string> current_environment();
std::int64_t current_pid() noexcept;
/// The id of the process that created us (POSIX getppid; Windows: from the process table).
std::int64_t parent_pid() noexcept;
/// Takes over a handle this process inherited: checks that it is open, then makes it
/// non-inheritable so that our own children (the parent's grandchildren) never keep it —
/// the third way a pipe end leaks. Clear on success.
std::error_code adopt_inherited(native_handle h) noexcept;
/// What kernel object `h` refers to, as text of hex digits and dots (POSIX: device and inode;
/// Windows: the volume and file id of a disk file, else a hash of the object's name), so a
/// child can tell that a number in its manifest still names the object the parent passed.
/// Empty if `h` is not open or (Windows) its object has neither a file id nor a name.
std::string handle_identity(native_handle h);
/// Why `handle_string` is no pipe end (for errc::invalid_handle_string or errc::not_a_pipe from
/// check_pipe_handle_string), as the end of a message: ": descriptor 7 is not open",
/// ": descriptor is a regular file". Empty for other errors.
std::string why_not_a_pipe(std::error_code ec, std::string_view handle_string);

/// True where handles are numbered descriptors a parent can place (POSIX): pass_at() and
/// systemd's socket activation exist there and nowhere else.
bool has_descriptor_numbers() noexcept;

/// "descriptor 5" / "handle 68": how error messages name a handle.
std::string describe_handle(native_handle h);

/// forward()'s portable way: read() into a buffer, write_all() out, until end-of-file.
std::uint64_t copy_to_end(borrowed_handle from, borrowed_handle to, std::error_code& ec) noexcept;

}  // namespace tether::detail
