// Internal, POSIX: what spawn.cpp needs from child.cpp and pipe.cpp.
#pragma once

#include <tether/spawn.hpp>

#include <cstddef>
#include <memory>
#include <sys/types.h>

namespace tether::detail {

struct process_tree;

/// A child object for a freshly spawned pid (opens its pidfd); `tree` for a group of its own.
child make_child(pid_t pid, bool kill_on_destroy, unique_handle in, unique_handle out, unique_handle err,
                 std::shared_ptr<process_tree> tree);

/// Asks for a pipe capacity of `capacity` bytes on the pipe `fd` is an end of (advisory; 0: no
/// change).
void set_pipe_capacity(int fd, std::size_t capacity) noexcept;

/// A child object for a detached child: its pid only (not ours to wait for or signal).
child make_detached_child(pid_t pid);

}  // namespace tether::detail
