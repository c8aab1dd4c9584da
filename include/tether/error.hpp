// tether/error.hpp — tether's own error conditions, one std::error_category.
//
// OS errors keep their value in std::system_category(); what tether itself detects is a
// tether::errc. Functions where a peer leaving is an expected outcome have an std::error_code
// overload; the others throw std::system_error (like Asio and std::filesystem).
#pragma once

#include <string>
#include <system_error>

namespace tether {

/// The conditions tether itself detects; their category is tether_category().
enum class errc {
    peer_gone = 1,        ///< the other end of a pipe or channel was closed (EPIPE, ERROR_BROKEN_PIPE...)
    timed_out,            ///< a timed operation ran out of time
    protocol_error,       ///< a channel frame that is malformed, truncated or of an unknown kind
    message_too_large,    ///< a channel frame longer than the configured maximum
    not_a_pipe,           ///< a handle string names something that is not a pipe
    wrong_direction,      ///< a pipe end of the other direction than the one asked for
    invalid_handle_string,///< a handle string that is not a number, or not an open handle
    unknown_handle_name,  ///< tether::inherited(name) for a name the parent did not pass
    no_manifest,          ///< tether::inherited() in a process that was not given handles
    invalid_argument,     ///< a spawn_options or API argument that cannot work
    unsafe_argument,      ///< an argument that cannot be passed to a batch file safely (BatBadBut)
    not_supported,        ///< the operation does not exist on this platform
    closed,               ///< the local end was already closed
    would_block,          ///< a non-blocking call (try_read, try_receive, ...) found nothing to do now
    output_limit,         ///< run(): a child's output went past run_options::output_limit
    line_too_long,        ///< a line_reader / line_splitter line longer than its max_line
    held_open,            ///< the child exited, but another process still holds the pipe's other end
};

/// The category of tether::errc; name() is "tether".
const std::error_category& tether_category() noexcept;

/// @returns `e` as an error_code in tether_category() (lets `ec == errc::timed_out` work).
std::error_code make_error_code(errc e) noexcept;
/// @returns `e` as an error_condition in tether_category().
std::error_condition make_error_condition(errc e) noexcept;

/// Throws std::system_error(ec, what) — one place that formats "what: message".
[[noreturn]] void throw_error(std::error_code ec, const std::string& what);

/// The calling thread's last OS error (errno / GetLastError()) as an error_code in
/// std::system_category().
std::error_code last_os_error() noexcept;

}  // namespace tether

/// @cond INTERNAL
template <>
struct std::is_error_code_enum<tether::errc> : std::true_type {};
/// @endcond
