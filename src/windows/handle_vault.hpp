// Internal, Windows only: the handle vault, the process a spawned child inherits its handles
// from when they are not inheritable in ours (src/windows/handle_vault.cpp; why it exists:
// src/windows/child_handles.hpp).
#pragma once

#include <tether/handle.hpp>

#include <memory>
#include <string>
#include <system_error>

#include <windows.h>

namespace tether::detail {

/// A suspended copy of our executable in a private kill-on-close job, so it dies with us even
/// if we crash. Shared by concurrent spawns; each lists only its own copies for its child.
class vault_process {
public:
    /// Starts the vault; nullptr, with `ec` and `what` (the failed step) set, on failure.
    static std::shared_ptr<vault_process> create(std::error_code& ec, std::string& what);
    vault_process() = default;
    vault_process(const vault_process&) = delete;
    vault_process& operator=(const vault_process&) = delete;
    ~vault_process();

    [[nodiscard]] bool alive() const noexcept { return ::WaitForSingleObject(process_.get(), 0) == WAIT_TIMEOUT; }
    [[nodiscard]] HANDLE process() const noexcept { return process_.get(); }
    [[nodiscard]] HANDLE job() const noexcept { return job_.get(); }
    [[nodiscard]] DWORD pid() const noexcept { return pid_; }

private:
    std::error_code contain();

    unique_handle process_, thread_, job_;
    DWORD pid_{0};
};

/// The vault, created on first need and recreated if it died (someone terminated it);
/// nullptr, with `ec` and `what` set, if it could not be started.
std::shared_ptr<vault_process> acquire_vault(std::error_code& ec, std::string& what);

}  // namespace tether::detail
