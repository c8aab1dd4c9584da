// Portable, internal: the checks and text work of spawn() that do not depend on the OS. The
// portable spawn (src/spawn.cpp) runs them in order; a backend's launch may call the
// environment and message helpers.
#pragma once

#include <tether/spawn.hpp>

#include "detail/backend.hpp"

#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace tether::detail {

/// Checks options before anything is created. On failure returns the error and sets `what`
/// to a sentence naming the bad input.
std::error_code validate_spawn_options(const spawn_options& opt, std::string& what);

/// True if `text` holds a handle_arg() placeholder ("{tether-handle:N}"), which only spawn()
/// turns into a value a child can open.
bool holds_handle_placeholder(std::string_view text) noexcept;

/// Replaces every handle_arg() placeholder in argv with the handle's child value.
/// A placeholder for a handle that is not in `map` is errc::invalid_argument (and `what` says which).
std::error_code substitute_handle_args(std::vector<std::string>& argv,
                                       const std::vector<handle_mapping>& map, std::string& what);

/// The child's environment as "NAME=value" strings: `inherited` (ours, unless the options say
/// not to inherit), minus env_unset and any stale tether manifest, plus env_set, plus the new
/// manifest if `manifest` is not empty. Names compare case-insensitively when `fold_case`
/// (Windows).
std::vector<std::string> build_environment(const spawn_options& opt,
                                           const std::vector<std::string>& inherited,
                                           const std::string& manifest,
                                           const std::string& parent_pid, bool fold_case);

/// The child's environment: `inherited` minus what the options drop, then `added` (a
/// spawn_plan's env_added).
std::vector<std::string> child_environment(const spawn_options& opt, const std::vector<std::string>& inherited,
                                           std::vector<std::string> added, bool fold_case);

/// True if an inherited variable `name` is not passed on: in env_unset, overridden by env_set,
/// or a stale tether manifest. (build_environment's filter, for backends that avoid copying.)
bool inherited_variable_dropped(const spawn_options& opt, std::string_view name, bool fold_case);

/// The "NAME=value" strings spawn adds after the inherited ones: env_set minus env_unset, then
/// the manifest and the parent id if `manifest` is not empty.
std::vector<std::string> added_environment(const spawn_options& opt, const std::string& manifest,
                                           const std::string& parent_pid, bool fold_case);

/// The value of NAME in a "NAME=value" list, or nullptr.
const std::string* find_env(const std::vector<std::string>& env, std::string_view name,
                            bool fold_case, std::string* storage);

/// `text` for an error message: NUL as \0 and other control characters as \xNN, so what()
/// (a C string) never stops early and the message stays on one line.
std::string printable(std::string_view text);

/// "spawn 'prog': " — the start of every spawn error message.
std::string spawn_context(const spawn_options& opt);

/// The manifest entries for the named handles, given their child values in pass order.
std::string manifest_for(const spawn_options& opt, const std::vector<handle_mapping>& map);

/// The child object for a successful launch (src/child.cpp).
child make_child(launched&& l, bool kill_on_destroy, bool detached);

}  // namespace tether::detail
