// Internal, Windows: the link between the spawn files (spawn.cpp, child_job.cpp,
// handle_vault.cpp) and child.cpp (twin of linux/process.hpp).
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

/// A child object for a freshly created process; takes ownership of its process HANDLE.
child make_child(std::int64_t pid, unique_handle process, bool kill_on_destroy, unique_handle in,
                 unique_handle out, unique_handle err, std::shared_ptr<process_tree> tree);

/// A child object for a detached child: its id only (spawn_options::detached).
child make_detached_child(std::int64_t pid);

}  // namespace tether::detail
