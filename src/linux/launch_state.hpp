// Linux, internal: what spawn.cpp prepares for one launch, and the placement of descriptors in
// the child (child_descriptors.cpp) that it shares.
#pragma once

#include <tether/handle.hpp>
#include <tether/spawn.hpp>

#include "linux/exec_child.hpp"
#include "linux/terminal.hpp"
#include "linux/tree.hpp"

#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace tether::detail {

/// The contract's launch_state on Linux: what the parent prepares for one launch (the program's
/// path, argv, envp, which descriptor goes where); it owns every temporary descriptor until the
/// child has them. exec_request is the view of it that the child reads.
struct launch_state {
    std::vector<int> child_fds;           // each passed handle's number in the child
    std::string program;                  // resolved path
    std::vector<std::string> env_added;   // variables we add; the inherited ones are not copied
    std::vector<char*> envp;              // the child's environment, null-terminated
    unique_handle cwd;                    // O_PATH directory, for fchdir in the child
    unique_handle null_dev;               // /dev/null, shared by all null streams
    unique_handle parent_stdio[3];        // our ends of stdio::pipe() streams
    unique_handle child_stdio_pipe[3];    // their ends of those pipes
    terminal_ptr terminal;                // stdio::terminal(): one for every stream that asks
    std::vector<exec_request::dup_step> dups;  // the moves: stdio first, then passed handles
    std::vector<exec_request::dup_step> steps; // the moves as the child makes them (order_moves)
    std::vector<std::size_t> step_origin;   // for each step, its move's index in dups
    std::vector<int> closes;              // gaps below the highest target
    int max_target{2};
    bool detached{false};
    char* pid_slots[2]{nullptr, nullptr};  // TETHER_CHILD_PID's and LISTEN_PID's values, in env_added
    std::shared_ptr<process_tree> tree;   // a group of its own: its cgroup, if any
    unique_handle cgroup_procs;           // the child writes itself in here
};

/// The numbers passed handles get in the child: the caller's choice, else the next free from 3.
std::vector<int> assign_child_fds(const spawn_options& opt);
/// "passed handle #2 ('log')": how messages name a passed handle.
std::string passed_name(const spawn_options& opt, std::size_t i);
/// "stdin", "stdout", "stderr".
const char* stream_name(int target);
/// Every move into the child (stdio, then passed handles), ordered so that none needs a number
/// above the targets, and the gaps below the highest target to close.
std::error_code plan_descriptors(const spawn_options& opt, const std::vector<int>& child_fds, launch_state& p,
                                 std::string& what);
/// Orders the moves into the steps the child runs (launch_state::steps): a move only once no
/// later move still reads its target, a cycle broken by one temporary.
void order_moves(launch_state& p);
/// The numbers between 3 and the highest target that are no target (closed in the child).
void plan_closes(launch_state& p);

}  // namespace tether::detail
