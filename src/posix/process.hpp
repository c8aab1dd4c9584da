// Internal, POSIX: the link between spawn.cpp and child.cpp.
#pragma once

#include <tether/spawn.hpp>

#include <sys/types.h>

namespace tether::detail {

/// A child object for a freshly spawned pid (opens its pidfd).
child make_child(pid_t pid, bool kill_on_destroy, unique_handle in, unique_handle out, unique_handle err);

}  // namespace tether::detail
