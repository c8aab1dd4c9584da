// Internal, POSIX: the link between spawn.cpp and child.cpp.
#pragma once

#include <tether/spawn.hpp>

#include <memory>
#include <sys/types.h>

namespace tether::detail {

struct process_tree;

/// A child object for a freshly spawned pid (opens its pidfd); `tree` for a group of its own.
child make_child(pid_t pid, bool kill_on_destroy, unique_handle in, unique_handle out, unique_handle err,
                 std::shared_ptr<process_tree> tree);

/// A child object for a detached child: its pid only (not ours to wait for or signal).
child make_detached_child(pid_t pid);

}  // namespace tether::detail
