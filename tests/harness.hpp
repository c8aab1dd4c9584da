// The test binary relaunches itself for child roles, like libuv's spawn_helper and Chromium's
// MULTIPROCESS_TEST_MAIN: `tether_tests --role NAME args...` runs the role instead of the tests.
// Any test file can add a role with TETHER_CHILD_ROLE; main() dispatches.
#pragma once

#include <tether/spawn.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tether_test {

using role_fn = int (*)(const std::vector<std::string>& args);
bool register_role(const char* name, role_fn fn);

/// spawn_options that run this binary in `role` with `args`.
tether::spawn_options role_options(const std::string& role, const std::vector<std::string>& args = {});

/// Runs `opt` with stdout as a pipe and returns what the child printed; expects exit code 0.
std::string output_of(tether::spawn_options opt);

/// Portable "is this handle open?" (is_inheritable throws for a handle that is not).
bool is_open(tether::native_handle h);

inline bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

}  // namespace tether_test

#define TETHER_CHILD_ROLE(name)                                                          \
    static int tether_role_##name(const std::vector<std::string>& args);                 \
    [[maybe_unused]] static const bool tether_role_registered_##name =                   \
        ::tether_test::register_role(#name, &tether_role_##name);                        \
    static int tether_role_##name([[maybe_unused]] const std::vector<std::string>& args)
