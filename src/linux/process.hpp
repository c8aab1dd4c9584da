// Internal, Linux: what the launch (spawn.cpp) needs from process.cpp and pipe.cpp.
#pragma once

#include <tether/handle.hpp>

#include <cstddef>
#include <sys/types.h>

namespace tether::detail {

/// A pidfd of our unreaped child `pid` (cannot race with id reuse: the child is ours and not
/// yet reaped); invalid where pidfd_open is missing (ENOSYS, Linux < 5.3).
unique_handle open_pidfd(pid_t pid) noexcept;

/// Asks for a pipe capacity of `capacity` bytes on the pipe `fd` is an end of (advisory; 0: no
/// change).
void set_pipe_capacity(int fd, std::size_t capacity) noexcept;

}  // namespace tether::detail
