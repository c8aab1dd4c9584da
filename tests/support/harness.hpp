// The test binary relaunches itself for child roles, like libuv's spawn_helper and Chromium's
// MULTIPROCESS_TEST_MAIN: `tether_tests --role NAME args...` runs the role instead of the tests.
// Any test file can add a role with TETHER_CHILD_ROLE; main() dispatches.
#pragma once

#include <tether/spawn.hpp>

#include <string>
#include <system_error>
#include <string_view>
#include <vector>

namespace tether_test {

using role_fn = int (*)(const std::vector<std::string>& args);
bool register_role(const char* name, role_fn fn);

/// spawn_options that run this binary in `role` with `args`.
tether::spawn_options role_options(const std::string& role, const std::vector<std::string>& args = {});

/// Runs `opt` with stdout as a pipe and returns what the child printed; expects exit code 0.
std::string output_of(tether::spawn_options opt);

/// What a program printed and how it ended (exit code, or 128 + signal).
struct captured {
    int code{-1};
    std::string out, err;
};
/// Runs `argv` with stdout and stderr as pipes and waits for it (each read bounded to 60 s;
/// stderr is read after stdout, fine for the few lines a test program writes there).
captured run_captured(std::vector<std::string> argv);

/// Spawns `role` with `theirs` passed under the name "control" (a channel's end).
tether::child spawn_with_channel(const std::string& role, tether::unique_handle&& theirs,
                                 const std::vector<std::string>& args = {});

/// spawn(opt) must fail with `code`, its message holding `says`, and leave the first passed
/// handle in `opt`, open, as it was: a failed spawn loses nothing the caller gave
/// (support/spawn_refusal.cpp; adds test failures, never throws).
void expect_spawn_fails_keeping_handles(tether::spawn_options& opt, std::error_code code, std::string_view says);

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
