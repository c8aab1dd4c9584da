// Internal, POSIX: the one place where tether runs code between clone and exec.
#pragma once

#include <cstddef>
#include <sys/types.h>

namespace tether::detail {

/// How the child gets rid of the descriptors it must not inherit, fastest first.
/// cloexec_range: close_range(CLOSE_RANGE_CLOEXEC) (Linux 5.11) only marks them, so execve closes
/// them after the vfork parent is already running again; close_range: closes them while the
/// parent waits (Linux 5.9); listing: getdents64 over /proc/self/fd, one close() each.
enum class close_way : unsigned char { cloexec_range, close_range, listing };

/// Everything the child needs, prepared by the parent: plain numbers and pointers only, so the
/// child allocates nothing. The child shares the parent's memory (CLONE_VM) while the parent
/// is suspended (CLONE_VFORK), so it reports failure by writing `err` and `failed_step` here.
struct exec_request {
    const char* program{nullptr};
    char* const* argv{nullptr};
    char* const* envp{nullptr};
    int cwd_fd{-1};  ///< fchdir here first, or -1

    struct dup_step {
        int from, to;
        /// stderr into an inherited stdout: our fd 1 may be closed or close-on-exec (stdout was
        /// closed and one of our own descriptors landed on 1). exec would close it as the
        /// child's stdout, but dup2 clears close-on-exec on the copy: close `to` instead.
        bool only_if_inheritable{false};
        /// move: dup2(from, to). keep: from == to, only close-on-exec is cleared. save: `from`
        /// is copied to the temporary (the lowest free number) that breaks a cycle of moves;
        /// from_saved: dup2(temporary, to); drop_saved: the temporary is closed.
        enum class kind : unsigned char { move, keep, save, from_saved, drop_saved };
        kind how{kind::move};
    };
    /// In the order the child runs them (spawn.cpp's order_moves): no step overwrites a number a
    /// later step still reads, so no number above the targets is needed.
    const dup_step* dups{nullptr};
    std::size_t dup_count{0};
    const int* closes{nullptr};  ///< numbers below close_from that are not targets (report_fd is skipped)
    std::size_t close_count{0};
    int close_from{3};  ///< everything at or above is closed (or marked close-on-exec)
    /// The first way to try (tests force the run-time fallbacks); each falls back to the next.
    close_way first_close_way{close_way::cloexec_range};

    int report_fd{-1};  ///< set by clone_and_exec: the close-on-exec pipe the child reports through, or -1

    /// Where the child writes its own process id (decimal, NUL-terminated) before execve: the
    /// values of the manifest's TETHER_CHILD_PID and of systemd's LISTEN_PID, so each names the
    /// one process meant to read it (a grandchild has another id). nullptr: nothing to write.
    char* pid_slots[2]{nullptr, nullptr};
    std::size_t pid_slot_size{0};  ///< bytes available at each slot, the NUL included

    /// Start the child with fork() instead of clone(CLONE_VM | CLONE_VFORK). Chosen under
    /// AddressSanitizer and ThreadSanitizer (see use_fork_by_default), and by tests.
    bool use_fork{false};

    /// 0: our process group; 1: setpgid(0, 0); 2: setsid() (spawn_options::group).
    int group{0};
    /// stdio::terminal(): the terminal's child side (the slave, as the parent numbers it), or
    /// -1. The child starts a session (setsid, whatever `group` says: a session is a group of
    /// its own too) and makes it its controlling terminal (TIOCSCTTY) before any move.
    int terminal_fd{-1};
    /// The child's cgroup.procs, open for writing, or -1: the child writes "0" there first, so
    /// it and all its descendants are in the cgroup before exec.
    int cgroup_procs_fd{-1};
    /// spawn_options::kill_on_parent_exit: PR_SET_PDEATHSIG(SIGKILL), then exit at once if the
    /// parent (this process id) is already gone.
    pid_t death_parent{0};
    /// spawn_options::detached: fork again; the first child exits at once (and is reaped by
    /// clone_and_exec), the second reports its id through the pipe and goes on. The first calls
    /// setsid, or, with group == 2 (new_session), the second, which then leads its session.
    bool detached{false};
    pid_t detached_pid{-1};  ///< set by clone_and_exec: the detached child's id

    /// Set by the child first thing. It reaches our copy of the request only when the child shares
    /// our memory (CLONE_VM honoured): then its outcome is in err/failed_step by the time
    /// clone returns, and the report pipe need not be read.
    bool child_shared_memory{false};

    enum class step { none, chdir, dup, close, exec, report_pipe, stack, clone, group, detach, terminal };
    step failed_step{step::none};  ///< the child's step, or where the parent's own setup failed
    int err{0};                    ///< errno of the failed step
    std::size_t failed_dup{0};     ///< step::dup: the index in `dups` that failed
};

/// True when built with AddressSanitizer or ThreadSanitizer: their run-time keeps per-thread
/// state in thread-local storage and intercepts close/dup2/sigaction, and a CLONE_VM child
/// would run that instrumented code on the parent's memory and thread state. fork() gives the
/// child its own copy, which both sanitizers support.
bool use_fork_by_default() noexcept;

/// Starts the child with clone(CLONE_VM | CLONE_VFORK) and returns when it has exec'd or failed.
/// The child writes its outcome into the request, which is our memory, before exec or _exit, and
/// vfork resumes us only after one of them: that is the answer when the child did share our
/// memory. Failure also travels through a close-on-exec pipe (0 bytes = exec'd; a record =
/// errno and step), read where the memory was not shared (fork mode, and valgrind, which runs
/// a vfork as a fork) and for a detached child, whose grandchild reports through it. Once a
/// child was seen to share our memory, clone's children get no pipe at all.
/// For a detached child the pid returned is the intermediate one (already reaped);
/// req.detached_pid is the child's.
/// @returns the pid; on exec failure the child has been reaped and req.err is set (pid > 0
///          still); on a failure before the child exists -1, with req.err and
///          req.failed_step (report_pipe, stack or clone) set.
pid_t clone_and_exec(exec_request& req) noexcept;

}  // namespace tether::detail
