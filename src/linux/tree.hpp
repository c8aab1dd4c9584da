// Internal, POSIX: what a child started with a process group of its own carries (its cgroup,
// if the system let us make one), and the ways to end such a tree (docs/lifetimes.md).
#pragma once

#include <tether/handle.hpp>
#include <tether/spawn.hpp>

#include <cstdint>
#include <string>
#include <sys/types.h>

namespace tether::detail {

/// One child's tree: its process group (led by the child) and, where possible, a cgroup v2 of
/// its own. Owned by the child object (shared_ptr, so the public header needs no definition).
struct process_tree {
    process_group group{process_group::inherit};
    std::string cgroup_path;  ///< empty: no cgroup (the process-group fallback)
    unique_handle cgroup_dir;  ///< O_DIRECTORY descriptor of cgroup_path
    /// kill_on_parent_exit: the watcher's id for this cgroup (parent_watch.hpp), or 0.
    std::uint64_t exit_watch{0};
    process_tree() = default;
    process_tree(const process_tree&) = delete;
    process_tree& operator=(const process_tree&) = delete;
    /// Removes the cgroup, or, while processes remain in it, queues it for removal.
    ~process_tree();
};

/// A new cgroup for one child, under our own cgroup v2: its directory and its cgroup.procs
/// opened for writing. False (and `why`) where cgroups cannot be used here.
bool make_child_cgroup(process_tree& tree, unique_handle& procs, std::string& why);

/// Our own cgroup v2 directory, under which children's cgroups are made; empty where children
/// get none.
std::string cgroup_base_path();

/// Why children get no cgroup here ("" if they do); the probe runs once.
const char* cgroup_unavailable_reason();

/// Whether `pid` really entered the tree's cgroup; if not, the cgroup is removed from the tree.
void confirm_cgroup(process_tree& tree, pid_t pid);

/// Sends `sig` to every process of the tree: through cgroup.kill (SIGKILL) or a frozen cgroup's
/// member list, else to the process group and the descendants found by parent id under /proc
/// (`pid` must still be unreaped for that). `reaped`: only the cgroup is used.
/// @returns 0 or an errno.
int signal_tree(const process_tree& tree, pid_t pid, bool reaped, int sig);

/// Removes queued cgroups that have become empty (called by reap_detached()).
void remove_pending_cgroups() noexcept;

/// Runs `fn(arg)` on the one spawner thread that lives as long as the process, so that
/// PR_SET_PDEATHSIG (which fires when the creating *thread* ends) means "when the process ends".
void run_on_spawner_thread(void (*fn)(void*), void* arg);

}  // namespace tether::detail
