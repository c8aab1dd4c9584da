// Internal, POSIX: the one place where tether runs code between clone and exec.
#pragma once

#include <cstddef>
#include <sys/types.h>

namespace tether::detail {

/// Everything the child needs, prepared by the parent: plain numbers and pointers only, so the
/// child allocates nothing. The child shares the parent's memory (CLONE_VM) while the parent
/// is suspended (CLONE_VFORK), so it reports failure by writing `err` and `failed_step` here.
struct exec_plan {
    const char* program{nullptr};
    char* const* argv{nullptr};
    char* const* envp{nullptr};
    int cwd_fd{-1};  ///< fchdir here first, or -1

    struct dup_step {
        int from, to;
    };
    const dup_step* dups{nullptr};  ///< in order; every `from` is above the highest target,
                                    ///< except stderr-into-stdout (1 -> 2, after stdout is placed)
    std::size_t dup_count{0};
    const int* closes{nullptr};  ///< numbers below close_from that are not targets
    std::size_t close_count{0};
    int close_from{3};         ///< everything at or above is closed (close_range, else /proc listing)
    bool force_listing{false};  ///< skip close_range: test the run-time fallback

    int report_fd{-1};  ///< set by clone_and_exec: the close-on-exec pipe the child reports through

    enum class step { none, chdir, dup, close, exec };
    step failed_step{step::none};  ///< written by the child
    int err{0};                    ///< errno of the failed step, written by the child
};

/// Starts the child with clone(CLONE_VM | CLONE_VFORK) and returns when it has exec'd or failed.
/// Failure travels through a close-on-exec pipe (0 bytes = exec'd; a record = errno and step),
/// so it is seen even where CLONE_VM is not honoured (valgrind runs a vfork as a fork).
/// @returns the pid; on exec failure the child has been reaped and plan.err is set (pid > 0
///          still); on clone failure -1 with errno set.
pid_t clone_and_exec(exec_plan& plan) noexcept;

}  // namespace tether::detail
