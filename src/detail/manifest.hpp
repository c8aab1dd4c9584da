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
/// between clone and exec (src/posix/exec_child.cpp). A grandchild that inherited the
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

}  // namespace tether::detail
