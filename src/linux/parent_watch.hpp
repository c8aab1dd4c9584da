// Internal, Linux: the watcher that ends the trees of kill_on_parent_exit children when this
// process ends in any way, SIGKILL included (parent_watch.cpp says how).
#pragma once

#include <cstdint>
#include <string>

namespace tether::detail {

/// Hands the cgroup `dir` (a child's, named `name` under our own cgroup directory) to the
/// watcher, which writes its cgroup.kill and removes it once this process has ended. Starts the
/// watcher on first use. @returns an id for forget_on_exit(), or 0 if there is no watcher here
/// (then only PR_SET_PDEATHSIG covers the child itself; docs/lifetimes.md).
std::uint64_t kill_on_exit(int dir, const std::string& name) noexcept;

/// The cgroup registered under `id` is gone (removed with its child): the watcher forgets it.
void forget_on_exit(std::uint64_t id) noexcept;

/// Why there is no watcher here ("" if there is one or none was needed yet).
std::string parent_watch_unavailable_reason();

}  // namespace tether::detail
