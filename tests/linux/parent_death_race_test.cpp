// kill_on_parent_exit when the parent dies in the window between the child's creation and its
// prctl(PR_SET_PDEATHSIG): a signal armed after the parent died never fires, so the child must
// see it was re-parented and end itself. No hook in the library holds the child there: the test
// traces the parent P (PTRACE_SEIZE, following fork, vfork and clone), so the child C that
// tether starts inside P is traced from its start. It runs C from system call to system call
// until C enters prctl(PR_SET_PDEATHSIG), kills P, then lets C go.
#include "support/harness.hpp"
#include "testing/test_hooks.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;

#if defined(__SANITIZE_THREAD__)
#define TETHER_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TETHER_TEST_UNDER_TSAN 1
#endif
#endif

namespace {

constexpr int trace_options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
                              PTRACE_O_TRACEVFORK | PTRACE_O_EXITKILL;  // EXITKILL: none outlives us

// The entry part of struct ptrace_syscall_info (<linux/ptrace.h>, which cannot be included
// beside glibc's <sys/ptrace.h>); the kernel fills at most the size it is given.
struct syscall_entry_info {
    std::uint8_t op;
    std::uint8_t pad[3];
    std::uint32_t arch;
    std::uint64_t instruction_pointer;
    std::uint64_t stack_pointer;
    std::uint64_t nr;
    std::uint64_t args[6];
};
constexpr std::uint8_t syscall_info_entry = 1;  // PTRACE_SYSCALL_INFO_ENTRY

// waitpid for a tracee, which need not be our child (__WALL).
std::optional<int> wait_tracee(pid_t pid) {
    int st = 0;
    while (::waitpid(pid, &st, __WALL) < 0)
        if (errno != EINTR) return std::nullopt;
    return st;
}

int event_of(int st) { return st >> 16; }

// The signal to deliver when resuming from stop `st`: a signal-delivery stop's own, none for
// ptrace's stops (events, system calls).
int signal_to_pass(int st) {
    if (!WIFSTOPPED(st) || event_of(st) != 0 || WSTOPSIG(st) == (SIGTRAP | 0x80)) return 0;
    return WSTOPSIG(st);
}

bool is_thread_of(pid_t tid, pid_t pid) {
    struct stat st {};
    return ::stat(("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid)).c_str(), &st) == 0;
}

// Follows `parent` until it starts a process (threads it starts are let go untraced), then lets
// it go. @returns the new process, traced and stopped at its start, or -1.
pid_t catch_new_process(pid_t parent) {
    for (int stops = 0; stops < 1000; ++stops) {
        auto st = wait_tracee(parent);
        if (!st || !WIFSTOPPED(*st)) return -1;
        int ev = event_of(*st);
        if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK || ev == PTRACE_EVENT_CLONE) {
            unsigned long id = 0;
            ::ptrace(PTRACE_GETEVENTMSG, parent, nullptr, &id);
            auto started = static_cast<pid_t>(id);
            (void)wait_tracee(started);  // its first stop
            if (!is_thread_of(started, parent)) {
                ::ptrace(PTRACE_DETACH, parent, nullptr, nullptr);
                return started;
            }
            ::ptrace(PTRACE_DETACH, started, nullptr, nullptr);
        }
        ::ptrace(PTRACE_CONT, parent, nullptr, signal_to_pass(*st));
    }
    return -1;
}

enum class stepped { at_prctl, ended, no_syscall_info };

// Runs `c` from system call to system call until it enters prctl(PR_SET_PDEATHSIG, ...), where
// it stays stopped.
stepped run_to_pdeathsig(pid_t c) {
    int sig = 0;
    for (int stops = 0; stops < 100000; ++stops) {
        if (::ptrace(PTRACE_SYSCALL, c, nullptr, sig) != 0) return stepped::ended;
        auto st = wait_tracee(c);
        if (!st || !WIFSTOPPED(*st)) return stepped::ended;
        sig = signal_to_pass(*st);
        if (WSTOPSIG(*st) != (SIGTRAP | 0x80)) continue;
        syscall_entry_info info{};
        if (::ptrace(PTRACE_GET_SYSCALL_INFO, c, sizeof info, &info) <= 0) return stepped::no_syscall_info;
        if (info.op == syscall_info_entry && info.nr == SYS_prctl && info.args[0] == PR_SET_PDEATHSIG)
            return stepped::at_prctl;
    }
    return stepped::ended;
}

// Lets `c` run on until it ends. @returns its wait status.
std::optional<int> run_to_end(pid_t c) {
    int sig = 0;
    for (;;) {
        if (::ptrace(PTRACE_CONT, c, nullptr, sig) != 0) return std::nullopt;
        auto st = wait_tracee(c);
        if (!st || !WIFSTOPPED(*st)) return st;
        sig = signal_to_pass(*st);
    }
}

}  // namespace

// Writes "alive" into the handle passed as "alive", then exits: it got as far as exec.
TETHER_CHILD_ROLE(pdeath_say_alive) {
    tether::write_all(tether::inherited("alive"), "alive");
    return 0;
}

// pdeath_parent fork|clone: the parent that dies in the window. Once told to go (its tracer is
// attached then), it starts pdeath_say_alive with kill_on_parent_exit on that path of
// exec_child.cpp, and is killed inside that spawn. Without a cgroup for the child: no watcher
// (parent_watch.cpp) ends it, so only the child's own check can, and the first process the
// spawn starts is the child itself.
TETHER_CHILD_ROLE(pdeath_parent) {
    tether::detail::test_hooks::force_fork_path(args.at(0) == "fork");
    tether::detail::test_hooks::force_no_cgroup(true);
    std::byte b[1];
    if (tether::read_for(tether::inherited("go"), b, 30s) != 1) return 2;
    auto opt = tether_test::role_options("pdeath_say_alive");
    opt.kill_on_parent_exit = true;
    opt.pass(tether::inherited("alive"), "alive");
    auto c = tether::spawn(std::move(opt));  // returns only if the child reached exec
    return 3;
}

namespace {
void check_parent_death_in_the_window(bool fork_path) {
    auto go = tether::make_pipe(), alive = tether::make_pipe();
    auto opt = tether_test::role_options("pdeath_parent", {fork_path ? "fork" : "clone"});
    opt.pass(std::move(go.read), "go").pass(std::move(alive.write), "alive");
    auto parent = tether::spawn(std::move(opt));
    auto p = static_cast<pid_t>(parent.pid());
    if (::ptrace(PTRACE_SEIZE, p, nullptr, trace_options) != 0) {
        int err = errno;
        parent.kill();
        parent.wait();
        GTEST_SKIP() << "ptrace(PTRACE_SEIZE) of our own child was refused (" << std::strerror(err)
                     << "): Yama's ptrace_scope, a seccomp filter or the container forbids tracing";
    }
    tether::write_all(go.write, "g");
    pid_t c = catch_new_process(p);
    ASSERT_GT(c, 0) << "the parent started no child";
    auto where = run_to_pdeathsig(c);
    if (where == stepped::no_syscall_info) {
        ::kill(c, SIGKILL);
        parent.kill();
        GTEST_SKIP() << "PTRACE_GET_SYSCALL_INFO is refused (Linux < 5.3): the child cannot be stopped at prctl";
    }
    ASSERT_EQ(where, stepped::at_prctl) << "the child ended before it armed the parent-death signal";
    parent.kill();  // the parent dies with its child inside the window
    auto pst = parent.wait();
    EXPECT_TRUE(pst.signalled()) << pst.describe() << ": the parent was to be killed inside its spawn";
    auto end = run_to_end(c);
    ASSERT_TRUE(end.has_value()) << "the orphan could not be followed to its end";
    EXPECT_FALSE(WIFEXITED(*end) && WEXITSTATUS(*end) == 0) << "the orphan ran its program to success";
    std::error_code ec;
    auto said = tether::read_to_end_for(alive.read, 30s, ec);
    EXPECT_FALSE(ec) << ec.message() << ": the orphan still holds its pipe";
    EXPECT_EQ(said, "") << "the orphaned child ran its program";
}
}  // namespace

TEST(KillOnParentExitPosix, AParentThatDiesBeforeTheChildArmsTheSignalStillEndsIt) {
#ifdef TETHER_TEST_UNDER_TSAN
    GTEST_SKIP() << "under ThreadSanitizer the traced parent runs a thread of the sanitizer's own, "
                    "which the tracer would have to follow and reap; the race is checked in the "
                    "clang, g++ and AddressSanitizer runs";
#endif
    for (bool fork_path : {false, true}) {
        SCOPED_TRACE(fork_path ? "fork path" : "clone(CLONE_VM | CLONE_VFORK) path");
        check_parent_death_in_the_window(fork_path);
        if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
    }
}
