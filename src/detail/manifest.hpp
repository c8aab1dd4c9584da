// Portable, internal: the handle manifest a parent puts in a child's environment
// ("TETHER_HANDLES=control:3,log:4", "TETHER_PARENT_PID=1234") and handle-string parsing.
#pragma once

#include <tether/handle.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace tether::detail {

/// POSIX: the id of the one process meant to read the manifest, written by that process itself
/// between clone and exec (src/linux/exec_child.cpp). A grandchild that inherited the
/// environment has another id and ignores the manifest, even if it inherited the descriptors.
inline constexpr const char* manifest_child_variable = "TETHER_CHILD_PID";

struct manifest_entry {
    std::string name;
    native_handle value;
    /// What the handle refers to, as handle_identity() spells it (empty: not recorded).
    std::string identity;
};

/// True for a non-empty name of letters, digits, '_', '-', '.' (so ',' and ':' never appear).
bool valid_handle_name(std::string_view name) noexcept;

/// "name:value[@identity],..." with values in decimal.
std::string format_manifest(const std::vector<manifest_entry>& entries);

/// Parses format_manifest's output; errc::protocol_error-free: malformed text gives
/// errc::invalid_handle_string and leaves `out` empty.
std::error_code parse_manifest(std::string_view text, std::vector<manifest_entry>& out);

/// A handle value in decimal (no sign except a leading '-' is refused, no spaces, no junk,
/// fits the native type). POSIX: a non-negative int. Windows: a non-negative pointer-size value.
std::optional<native_handle> parse_handle_value(std::string_view text) noexcept;

/// Decimal text for a handle value (the inverse of parse_handle_value).
std::string format_handle_value(native_handle h);

/// Decimal parse of a process id; nullopt for anything else.
std::optional<std::int64_t> parse_pid(std::string_view text) noexcept;

// ---- systemd's socket activation (sd_listen_fds(3)): a second way to hand a child named
// descriptors, read by gunicorn, libsystemd, python-systemd and many daemons.

inline constexpr const char* listen_pid_variable = "LISTEN_PID";
inline constexpr const char* listen_fds_variable = "LISTEN_FDS";
inline constexpr const char* listen_fdnames_variable = "LISTEN_FDNAMES";
/// The first descriptor of the convention (SD_LISTEN_FDS_START).
inline constexpr int listen_fds_start = 3;
/// The name systemd gives a descriptor when LISTEN_FDNAMES is absent.
inline constexpr const char* listen_unnamed = "unknown";

/// systemd's rule for a LISTEN_FDNAMES entry (fdname_is_valid), less the empty name: 1 to 255
/// printable ASCII characters, no ':' (the separator).
bool valid_listen_name(std::string_view name) noexcept;

/// The three variables as found in an environment (nullopt: not set).
struct listen_variables {
    std::optional<std::string> pid, fds, names;
};

/// Parses the variables as sd_listen_fds_with_names() does, for the process `reader`: no
/// entries and no error when they are absent or addressed to another process; entries at 3,
/// 4, … otherwise, named from LISTEN_FDNAMES ("unknown" each when it is absent). Malformed
/// values (a LISTEN_PID or LISTEN_FDS that is no decimal number or out of range, a name count
/// that differs from LISTEN_FDS, a name systemd would refuse, a name given twice) are
/// errc::invalid_handle_string with `what` naming the variable and its value. Pure: opens and
/// checks no descriptor.
std::error_code parse_listen_fds(const listen_variables& v, std::int64_t reader,
                                 std::vector<manifest_entry>& out, std::string& what);

}  // namespace tether::detail
