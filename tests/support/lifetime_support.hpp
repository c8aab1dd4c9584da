// Test support for process lifetimes (tests/lifetime_test.cpp and tests/linux/lifetime_posix_test.cpp):
// roles that build small process trees, and a per-platform "has this process ended?" poll.
#pragma once

#include <tether/tether.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tether_test {

/// Polls (a short pause between looks, bounded by `limit`) until process `pid`, not necessarily
/// our child, has ended: gone, or a zombie (POSIX; its parent may not reap it soon).
/// @returns true if it ended within `limit`.
bool ended_within(std::int64_t pid, std::chrono::milliseconds limit);

/// Why kill_on_parent_exit cannot reach a child's whole tree here ("" if it can): Linux needs a
/// cgroup per child and the watcher; Windows always has the job.
std::string no_whole_tree_on_parent_exit();
/// True if process `pid` exists and has not ended (POSIX: not a zombie).
bool running_now(std::int64_t pid);

/// Ends process `pid` if it still runs (cleanup after a failed check, so that no stray process
/// outlives the test; the pid cannot have been reused while it was seen running just before).
void end_if_running(std::int64_t pid);

/// A test check: `pid` ends within 10 s; if not, the failure names it and it is ended.
void expect_ended(std::int64_t pid);

/// Reads one line ("\n" not included) from `h`, waiting at most `limit` in all.
std::string read_line_for(tether::borrowed_handle h, std::chrono::milliseconds limit);

/// Parses "a b c" into numbers.
std::vector<std::int64_t> numbers(const std::string& line);

/// A life_middle child (tests/lifetime_test.cpp) and the ids it reported.
struct tree_ids {
    tether::child c;
    std::int64_t middle{-1}, grandchild{-1};
};

/// Starts life_middle in `group`: it starts a grandchild (life_block) in `grandchild_group`
/// ("inherit" or "new_group"), reports both ids, then blocks or, with `exit_after`, exits so the
/// grandchild is re-parented. `no_cgroup`: the middle's own spawn uses the process-group
/// fallback too (Linux, see no_cgroup_variable).
tree_ids start_tree(const std::string& grandchild_group, bool exit_after = false,
                    tether::process_group group = tether::process_group::new_group, bool no_cgroup = false);

/// Set to "1" in the environment of a child role that spawns a tree of its own, when its test
/// uses the process-group fallback (Linux): the library reads no such variable, so the role
/// turns cgroups off itself (take_test_switches).
inline constexpr const char* no_cgroup_variable = "TETHER_TEST_NO_CGROUP";

/// A child role that spawns children of its own calls this first, so that they follow the way
/// its test chose (Linux: no_cgroup_variable -> test_hooks::force_no_cgroup; elsewhere nothing).
void take_test_switches();

}  // namespace tether_test
