// Internal, for tests only: every switch a test can flip inside the library, and the one view
// of library state a test may take. Only code under tests/ includes this header; the library
// reads the switches through testing/switches.hpp. The definitions live in the library itself
// (src/<backend>/test_hooks.cpp), not in a second, instrumented build of it: the suite runs
// against the very library it ships (docs/design.md, "Test hooks").
//
// Each switch stays set until the test sets it back; tests restore it on every path (a scope
// guard), since one test binary runs every test. A hook of the other platform's backend is
// declared here but defined only there.
#pragma once

#include <cstdint>
#include <string>

namespace tether::detail {
enum class close_way : unsigned char;  // linux/exec_child.hpp
}  // namespace tether::detail

namespace tether::detail::test_hooks {

// ---- Linux backend (src/linux/test_hooks.cpp) ----

/// Every later child starts at this way of closing what it must not inherit: close_range
/// without CLOSE_RANGE_CLOEXEC (as before Linux 5.11), or the fallback used when close_range is
/// missing (Linux < 5.9) or refused (a seccomp filter): listing /proc/self/fd and closing one
/// by one. close_way::cloexec_range is the default.
void force_close_way(close_way way) noexcept;

/// Forces the fork() path of exec_child.cpp (the default under ASan and TSan) instead of
/// clone(CLONE_VM | CLONE_VFORK), so that path is tested in every build.
void force_fork_path(bool on) noexcept;

/// Forces the process-group fallback of kill_tree() (no cgroup) for children spawned from now
/// on, so both ways are tested. A test's child process that must do the same (it spawns a tree
/// of its own) calls this itself: the library reads no environment variable for it.
void force_no_cgroup(bool on) noexcept;

/// async_wait_exit() (tether/asio.hpp) uses its polling fallback even where a pidfd exists,
/// so that path is exercised on every kernel.
void force_exit_polling(bool on) noexcept;

// ---- Windows backend (src/windows/test_hooks.cpp) ----

/// BCryptGenRandom "fails" with NTSTATUS `status` for every pipe name made from now on
/// (0 turns it off).
void pipe_random_fails(long status) noexcept;

/// The next pipe instance tether creates tries `name` first (tests plant a squatter there);
/// used once, then names are random again. Empty: none.
void plant_first_pipe_name(std::wstring name);

/// holders(): OpenProcess of `pid` fails with ERROR_ACCESS_DENIED, as on real Windows for
/// another user's or a protected process (wine lets every process be opened). 0 turns it off.
void holders_refuse_open(std::int64_t pid) noexcept;

/// The handle vault as it is now: its process and its job, or NULLs if there is none.
/// Borrowed: valid while the vault lives. Defined beside the vault (windows/handle_vault.cpp),
/// whose state it reads.
struct vault_view {
    void* process{nullptr};
    void* job{nullptr};
};
vault_view current_handle_vault();

}  // namespace tether::detail::test_hooks
