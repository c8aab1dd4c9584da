// tether::run() with real shells (Linux): the case `sh -c 'sleep 100 & echo hi'`, whose
// background job keeps stdout, with and without kill_tree.
#include <gtest/gtest.h>

#include <tether/run.hpp>

#include "support/harness.hpp"
#include "support/lifetime_support.hpp"
#include "linux/tree.hpp"
#include "testing/test_hooks.hpp"

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;
using tether_test::contains;

namespace {

tether::spawn_options shell(const std::string& script) {
    tether::spawn_options opt;
    opt.argv = {"/bin/sh", "-c", script};
    return opt;
}

}  // namespace

TEST(RunPosix, ABackgroundJobKeepingStdoutIsNamedAndRunReturns) {
    tether::run_options ro;
    ro.eof_grace = 300ms;
    ro.timeout = 60s;  // a hang fails here rather than blocking the suite
    auto r = tether::run(shell("sleep 100 & echo hi"), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.out, "hi\n");
    ASSERT_EQ(r.stuck.size(), 2u);  // the background job holds stdout and stderr
    ASSERT_FALSE(r.stuck[0].holders.empty()) << r.stuck[0].verdict;
    auto sleeper = r.stuck[0].holders[0].pid;
    EXPECT_TRUE(contains(r.stuck[0].verdict, "`sleep 100` (fd 1), started by /bin/sh")) << r.stuck[0].verdict;
    std::printf("stuck: %s\n", r.stuck[0].verdict.c_str());
    EXPECT_TRUE(tether_test::running_now(sleeper));
    tether_test::end_if_running(sleeper);
}

TEST(RunPosix, KillTreeEndsTheBackgroundJobAndEndOfFileArrives) {
    std::string why = tether::detail::cgroup_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "no per-child cgroup here (after the shell exits only a cgroup reaches its job): " << why;
    tether::run_options ro;
    ro.eof_grace = 300ms;
    ro.timeout = 60s;
    ro.kill_tree = true;
    auto r = tether::run(shell("sleep 100 & echo $! ; echo hi"), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    EXPECT_TRUE(r.stuck.empty()) << r.stuck[0].verdict;
    EXPECT_TRUE(r.tree_ended);
    auto pid = std::stoll(r.out);
    EXPECT_TRUE(contains(r.out, "\nhi\n")) << r.out;
    tether_test::expect_ended(pid);
}

TEST(RunPosix, TimeoutWithKillTreeLeavesNoDescendant) {
    tether::run_options ro;
    ro.timeout = 500ms;
    ro.kill_tree = true;
    std::error_code ec;
    std::string message;
    // The shell still runs at the timeout: its tree (cgroup, or the process group) is ended.
    auto r = tether::run(shell("sleep 100 & echo $! ; sleep 100"), ro, ec, message);
    EXPECT_EQ(ec, tether::errc::timed_out) << message;
    EXPECT_TRUE(r.timed_out);
    EXPECT_TRUE(r.stuck.empty()) << r.stuck[0].verdict;
    tether_test::expect_ended(std::stoll(r.out));
}

// SIGCHLD set to SIG_IGN makes the kernel discard every child's status. run() must not call
// such a child "exited with code 0": the status is unknown, and that is an error.
TEST(RunPosix, AStatusCollectedBySomeoneElseIsUnknownNeverSuccess) {
    struct sigchld_ignored {
        struct sigaction old{};
        sigchld_ignored() {
            struct sigaction ign{};
            ign.sa_handler = SIG_IGN;
            ::sigaction(SIGCHLD, &ign, &old);
        }
        ~sigchld_ignored() { ::sigaction(SIGCHLD, &old, nullptr); }
    } guard;
    tether::run_options ro;
    ro.timeout = 60s;
    std::error_code ec;
    std::string message;
    auto r = tether::run(shell("echo out; exit 3"), ro, ec, message);
    EXPECT_EQ(r.out, "out\n");
    EXPECT_FALSE(r.status.success()) << r.status.describe();
    EXPECT_EQ(r.status.how, tether::exit_status::kind::unknown) << r.status.describe();
    EXPECT_EQ(ec, std::errc::no_child_process) << message;
    EXPECT_TRUE(contains(message, "collected by someone else")) << message;
    EXPECT_THROW(tether::run(shell("exit 3"), ro), std::system_error);
}

// A streaming callback that throws ends the run: the child is ended and collected before the
// exception reaches the caller (the child here would sleep 100 s otherwise).
TEST(RunPosix, ASinkThatThrowsEndsTheChildAndPropagates) {
    struct reader_gone {};
    tether::run_options ro;
    ro.timeout = 60s;
    std::string seen;
    ro.on_stdout = [&seen](std::span<const std::byte> d) {
        seen.append(reinterpret_cast<const char*>(d.data()), d.size());
        throw reader_gone{};
    };
    EXPECT_THROW(tether::run(shell("echo $$; exec sleep 100"), ro), reader_gone);
    ASSERT_FALSE(seen.empty());
    tether_test::expect_ended(std::stoll(seen));
}
