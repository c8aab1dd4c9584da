// Internal, POSIX only: switches that let tests drive the run-time fallbacks of spawn().
#pragma once

namespace tether::detail {

/// Forces the fallback used when close_range is missing (Linux < 5.9) or refused at run time
/// (a seccomp filter): the child lists /proc/self/fd with getdents64 and closes one by one.
void force_closefrom_fallback(bool on) noexcept;

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
