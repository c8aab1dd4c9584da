// Internal: what the library reads of the switches tests set through testing/test_hooks.hpp.
// Library code includes this header, never test_hooks.hpp; each backend defines its part in
// src/<backend>/test_hooks.cpp, beside the setters. Every getter is one relaxed load: off is the
// production value, and a test sets a switch before the calls it is meant to change.
#pragma once

#include <cstdint>
#include <string>

namespace tether::detail {
enum class close_way : unsigned char;  // linux/exec_child.hpp
}  // namespace tether::detail

namespace tether::detail::test_switches {

// ---- Linux backend ----
close_way first_close_way() noexcept;  ///< close_way::cloexec_range unless a test forced another
bool fork_path_forced() noexcept;
bool no_cgroup_forced() noexcept;
/// True while a test forces Asio's async_wait_exit() onto its polling fallback: the library then
/// gives Asio no process handle (process_open_handle fails), as on a kernel without pidfd.
bool exit_polling_forced() noexcept;

// ---- Windows backend ----
long pipe_random_failure() noexcept;  ///< 0, or the NTSTATUS BCryptGenRandom is to "fail" with
/// The planted pipe name (test_hooks::plant_first_pipe_name), once; empty if none.
std::wstring take_planted_pipe_name();
std::int64_t holders_refused_pid() noexcept;  ///< 0, or the pid OpenProcess is to refuse

}  // namespace tether::detail::test_switches
