// Portable, internal: what spawn() and the child object need of terminals (src/terminal.cpp).
#pragma once

#include <tether/spawn.hpp>
#include <tether/terminal.hpp>

#include "detail/backend.hpp"

#include <string>
#include <system_error>

namespace tether::detail {

/// The public object over a backend's terminal (child::take_terminal()); empty for null.
terminal make_terminal(terminal_ptr&& t) noexcept;

/// The stdio::terminal() rules, checked by validate_spawn_options before anything is made:
/// sizes in 1..65535, one size for every terminal stream, no terminal for a detached child.
/// On failure returns errc::invalid_argument with `what` naming the stream and the value.
std::error_code check_terminal_streams(const spawn_options& opt, std::string& what);

/// True if any of the child's streams is a stdio::terminal().
bool wants_terminal(const spawn_options& opt) noexcept;

}  // namespace tether::detail
