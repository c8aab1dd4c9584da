// Internal, Windows only: where one spawn puts the handles its child inherits
// (src/windows/child_handles.cpp), so that no handle of ours is ever inheritable.
//
// Raymond Chen's "reverse race" (The Old New Thing, 2011-12-16, "Programmatically controlling
// which handles are inherited by new processes"): a handle list limits what *our* CreateProcess
// passes, but while a handle is inheritable, any other thread's CreateProcess(bInheritHandles=
// TRUE) without a list takes it too, and that foreign child then holds our pipe end open (the
// parent never sees end-of-file). Making a handle inheritable "just for the call" is not enough.
//
// Where the child's handles come from (docs/windows.md, "Where the child inherits from"):
//  - direct: every handle the child gets is already inheritable in our process (the caller made
//    it so, or it is a std handle we inherited that way), or it gets none. Then nothing becomes
//    inheritable that was not already; we are the child's parent, as with any CreateProcess.
//  - vault: otherwise. The handles are duplicated, as inheritable, into the handle vault: one
//    suspended copy of our executable per process, created on first need, kept in a private job
//    with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE (so it dies with us, even if we crash), checked
//    before each use and recreated if it died (handle_vault.hpp). The child is created with
//    PROC_THREAD_ATTRIBUTE_PARENT_PROCESS = the vault and PROC_THREAD_ATTRIBUTE_HANDLE_LIST =
//    exactly this spawn's copies; the copies are closed before spawn() returns. Concurrent spawns
//    share the vault: a child inherits only the handles in its own list ("the handles to be
//    inherited by the child process", UpdateProcThreadAttribute), so each spawn lists exactly
//    its own copies and never takes another spawn's.
//  - self copy (spawn_options::windows_direct_inheritance, and every child on a pseudo console,
//    which cannot have another parent): inheritable duplicates in our own process for the
//    duration of the call, closed right after, made under inheritable_window_mutex(). The
//    child's parent is us; the reverse race is open during the call for a foreign
//    CreateProcess (documented with the option), never between two calls of tether's.
#pragma once

#include <tether/spawn.hpp>

#include <map>
#include <mutex>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <windows.h>

namespace tether::detail {

class vault_process;

/// Where one spawn's handles are put for the child to inherit; closes the copies it made.
class child_handles {
public:
    enum class mode { direct, vault, self_copy };

    child_handles() = default;
    child_handles(const child_handles&) = delete;
    child_handles& operator=(const child_handles&) = delete;
    ~child_handles() { close_copies(); }

    /// Takes mode `m`; for mode::vault, acquires the vault (on failure `what` names the step).
    std::error_code open(mode m, std::string& what);
    /// The child's parent: the vault, or NULL for ourselves.
    [[nodiscard]] HANDLE parent_process() const noexcept;
    [[nodiscard]] DWORD parent_pid() const noexcept;

    /// The child's value for `ours` (deduplicated; NULL stays NULL): `ours` itself when direct,
    /// else an inheritable copy in the vault or in our process.
    std::error_code put(HANDLE ours, HANDLE& theirs, std::string& what);
    /// The child's values, each once: the handle list.
    [[nodiscard]] std::vector<HANDLE> values() const;
    /// Closes the copies now (synchronously: none outlives spawn(), not even for the instant of
    /// a process rundown).
    void close_copies() noexcept;

private:
    mode mode_{mode::direct};
    std::shared_ptr<vault_process> vault_;
    std::map<HANDLE, HANDLE> copies_;
    std::unique_lock<std::mutex> window_;  // self copy: held from the first copy until they are closed
};

/// The process-wide lock around every window in which a handle of ours is inheritable (the
/// self copies above; CreatePseudoConsole's copies of its pipe ends, pseudo_console.cpp), so
/// that no two of tether's own such windows overlap: a child of one never takes the other's.
std::mutex& inheritable_window_mutex() noexcept;

/// The mode for a child that gets `stdio` (our handle for each stream, NULL for none) and
/// `opt.handles`: self copy if the options ask for it (windows_direct_inheritance), else direct
/// if every one of them is inheritable in our process already, else the vault.
child_handles::mode inheritance_mode(const spawn_options& opt, std::span<const HANDLE, 3> stdio);

}  // namespace tether::detail
