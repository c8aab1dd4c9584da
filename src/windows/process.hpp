// Internal, Windows: the child's job (the contract's process_tree), shared by the launch
// (spawn.cpp, child_job.cpp) and process.cpp.
#pragma once

#include <tether/spawn.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

namespace tether::detail {

/// A child's job object (a group of its own, or kill_on_parent_exit). Owned by the child object.
struct process_tree {
    unique_handle job;
    /// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: closing the last handle would kill the tree, so the
    /// destructor keeps the handle until this process exits instead of closing it.
    bool kill_on_close{false};
    process_tree() = default;
    process_tree(const process_tree&) = delete;
    process_tree& operator=(const process_tree&) = delete;
    ~process_tree();
};

}  // namespace tether::detail
