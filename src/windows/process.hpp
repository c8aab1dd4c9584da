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

/// The handle vault as it is now (for tests): its process and its job, or NULLs if there is none.
/// Borrowed: valid while the vault lives.
struct vault_view {
    void* process{nullptr};
    void* job{nullptr};
};
vault_view current_handle_vault();

}  // namespace tether::detail
