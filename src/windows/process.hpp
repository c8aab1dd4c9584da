// Internal, Windows: the link between spawn.cpp and child.cpp (twin of posix/process.hpp).
#pragma once

#include <tether/spawn.hpp>

#include <cstdint>
#include <string>
#include <system_error>

namespace tether::detail {

/// A child object for a freshly created process; takes ownership of its process HANDLE.
child make_child(std::int64_t pid, unique_handle process, bool kill_on_destroy, unique_handle in,
                 unique_handle out, unique_handle err);

}  // namespace tether::detail
