// Internal, POSIX only: switches that let tests drive the run-time fallbacks of spawn().
#pragma once

#include "linux/exec_child.hpp"

namespace tether::detail {

/// Forces the child to start at a later way of closing what it must not inherit:
/// close_range without CLOSE_RANGE_CLOEXEC (as before Linux 5.11), or the fallback used when
/// close_range is missing (Linux < 5.9) or refused (a seccomp filter): the child lists
/// /proc/self/fd with getdents64 and closes one by one. cloexec_range is the default.
void force_close_way(close_way way) noexcept;

/// Holds every later child spawned with kill_on_parent_exit just before it arms the signal:
/// it writes a byte to `ready_fd`, then waits for a byte on `go_fd` (-1, -1: off). A test kills
/// the parent in that window: the child must see it was re-parented and end itself.
void force_parent_death_race(int ready_fd, int go_fd) noexcept;

/// Forces the fork() path of exec_child.cpp (the default under ASan and TSan) instead of
/// clone(CLONE_VM | CLONE_VFORK), so that path is tested in every build.
void force_fork_path(bool on) noexcept;

}  // namespace tether::detail

namespace tether::detail {

/// Forces the process-group fallback of kill_tree() (no cgroup), so both ways are tested.
void force_no_cgroup(bool on) noexcept;

/// Why children get no cgroup here ("" if they do); the probe runs once.
const char* cgroup_unavailable_reason();

}  // namespace tether::detail
