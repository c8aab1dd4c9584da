// Process lifetimes on both platforms: wait_or_kill and the error_code
// overloads, trees (process group / cgroup / job), kill on parent exit, detached children.
// Roles build the trees; each reports the ids of its processes on a line so the test can watch
// processes that are not its own children (support/lifetime_support.hpp).
#include "support/harness.hpp"
#include "support/lifetime_support.hpp"
#include "detail/backend.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <iostream>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using tether_test::contains;
using tether_test::ended_within;
using tether_test::expect_ended;
using tether_test::numbers;
using tether_test::read_line_for;
using tether_test::running_now;

namespace tether_test {

std::string read_line_for(tether::borrowed_handle h, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    std::string line;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        std::byte b[1];
        if (left.count() <= 0 || tether::read_for(h, b, left) == 0) return line;
        if (static_cast<char>(b[0]) == '\n') return line;
        line += static_cast<char>(b[0]);
    }
}

void expect_ended(std::int64_t pid) {
    EXPECT_TRUE(ended_within(pid, 10s)) << "process " << pid << " survived";
    end_if_running(pid);
}

std::vector<std::int64_t> numbers(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::int64_t> v;
    for (std::int64_t n; in >> n;) v.push_back(n);
    return v;
}

}  // namespace tether_test

namespace {

tether::process_group group_named(const std::string& s) {
    return s == "new_group" ? tether::process_group::new_group : tether::process_group::inherit;
}

[[noreturn]] void block_forever() {
    for (;;) std::this_thread::sleep_for(1h);  // ended by a signal or TerminateProcess
}

}  // namespace

// ---- roles

TETHER_CHILD_ROLE(life_block) { block_forever(); }

TETHER_CHILD_ROLE(life_exit) { return std::stoi(args.at(0)); }

// life_middle GROUP KOPE EXIT: starts a grandchild (life_block) with that group and
// kill_on_parent_exit (0/1), prints "<own id> <grandchild id>", then blocks, or exits (EXIT=1)
// so the grandchild is re-parented.
TETHER_CHILD_ROLE(life_middle) {
    tether_test::take_test_switches();
    auto opt = tether_test::role_options("life_block");
    opt.group = group_named(args.at(0));
    opt.kill_on_parent_exit = args.at(1) == "1";
    opt.in = tether::stdio::null();
    opt.out = tether::stdio::null();
    auto gc = tether::spawn(std::move(opt));
    std::cout << tether::detail::current_pid() << " " << gc.pid() << "\n" << std::flush;
    if (args.at(2) == "1") return 0;  // ~child neither kills nor waits
    block_forever();
}

// life_relay ARGS...: the "parent" that is killed: starts life_middle ARGS with
// kill_on_parent_exit, prints the line it reports, then blocks.
TETHER_CHILD_ROLE(life_relay) {
    auto opt = tether_test::role_options("life_middle", args);
    opt.kill_on_parent_exit = true;
    opt.out = tether::stdio::pipe();
    auto mid = tether::spawn(std::move(opt));
    std::cout << read_line_for(mid.take_stdout(), 30s) << "\n" << std::flush;
    block_forever();
}

// Writes "<own id>" into the handle passed as "report", then exits.
TETHER_CHILD_ROLE(life_detached_report) {
    auto h = tether::inherited("report");
    tether::write_all(h, std::to_string(tether::detail::current_pid()) + "\n");
    return 0;
}

namespace tether_test {

tree_ids start_tree(const std::string& grandchild_group, bool exit_after, tether::process_group group, bool no_cgroup) {
    auto opt = role_options("life_middle", {grandchild_group, "0", exit_after ? "1" : "0"});
    opt.group = group;
    if (no_cgroup) opt.env_set[no_cgroup_variable] = "1";
    opt.out = tether::stdio::pipe();
    tree_ids t;
    t.c = tether::spawn(std::move(opt));
    auto ids = numbers(read_line_for(t.c.take_stdout(), 30s));
    EXPECT_EQ(ids.size(), 2U);
    if (ids.size() == 2) {
        t.middle = ids[0];
        t.grandchild = ids[1];
    }
    EXPECT_EQ(t.middle, t.c.pid());
    return t;
}

}  // namespace tether_test

using tether_test::start_tree;

// ---- wait_or_kill and the error_code overloads

TEST(WaitOrKill, ReturnsTheStatusOfAChildThatEndsInTime) {
    auto c = tether::spawn(tether_test::role_options("life_exit", {"3"}));
    auto st = c.wait_or_kill(60s);
    EXPECT_TRUE(st.exited());
    EXPECT_EQ(st.code, 3);
}

TEST(WaitOrKill, KillsAChildStillRunningAtTheTimeout) {
    auto c = tether::spawn(tether_test::role_options("life_block"));
    auto start = std::chrono::steady_clock::now();
    auto st = c.wait_or_kill(100ms);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
    EXPECT_FALSE(st.success()) << st.describe();
    EXPECT_EQ(c.status(), st);  // reaped
}

TEST(WaitOrKill, ZeroKillsAtOnceAndNegativeIsRefusedNamingTheValue) {
    auto c = tether::spawn(tether_test::role_options("life_block"));
    try {
        c.wait_or_kill(-5ms);
        ADD_FAILURE() << "a negative timeout was accepted";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument);
        EXPECT_TRUE(contains(e.what(), "-5 ms")) << e.what();
    }
    EXPECT_FALSE(c.try_wait());  // the refusal did not touch the child
    auto st = c.wait_or_kill(0ms);
    EXPECT_FALSE(st.success()) << st.describe();
    EXPECT_EQ(c.wait_or_kill(0ms), st);  // ended already: the same status, no kill
}

TEST(WaitOrKill, KillsTheWholeTreeOfAChildWithAGroupOfItsOwn) {
    auto t = start_tree("inherit");
    ASSERT_TRUE(running_now(t.grandchild));
    auto st = t.c.wait_or_kill(10ms);
    EXPECT_FALSE(st.success());
    expect_ended(t.grandchild);
}

TEST(ErrorCodeOverloads, ReportFailureInsteadOfThrowing) {
    tether::child empty;
    std::error_code ec;
    empty.wait(ec);
    EXPECT_EQ(ec, tether::errc::invalid_argument);

    auto c = tether::spawn(tether_test::role_options("life_block"));
    ec = tether::errc::invalid_argument;
    EXPECT_FALSE(c.try_wait(ec));
    EXPECT_FALSE(ec) << ec.message();
    c.terminate(ec);
    EXPECT_FALSE(ec) << ec.message();
    auto st = c.wait(ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(st.success());
    c.kill(ec);  // reaped: no effect, no error
    EXPECT_FALSE(ec) << ec.message();
    c.kill_tree(ec);
    EXPECT_FALSE(ec) << ec.message();
    auto again = c.try_wait(ec);
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, st);
}

// ---- trees

TEST(ProcessTree, KillTreeEndsTheChildAndItsGrandchild) {
    auto t = start_tree("inherit");
    ASSERT_TRUE(running_now(t.grandchild));
    t.c.kill_tree();
    EXPECT_FALSE(t.c.wait().success());
    expect_ended(t.grandchild);
}

TEST(ProcessTree, KillTreeEndsAGrandchildThatLeftTheGroup) {
    auto t = start_tree("new_group");
    ASSERT_TRUE(running_now(t.grandchild));
    t.c.kill_tree();
    t.c.wait();
    expect_ended(t.grandchild);
}

TEST(ProcessTree, TerminateTreeEndsTheChildAndItsGrandchild) {
    auto t = start_tree("inherit", false, tether::process_group::new_session);
    t.c.terminate_tree();
    EXPECT_FALSE(t.c.wait().success());
    expect_ended(t.grandchild);
}

TEST(ProcessTree, KillTreeOnAnEmptyChildDoesNothing) {
    tether::child empty;
    EXPECT_NO_THROW(empty.kill_tree());
    EXPECT_NO_THROW(empty.terminate_tree());
}

// ---- kill on parent exit

TEST(KillOnParentExit, KillingTheParentEndsTheChildAndItsGrandchild) {
    auto opt = tether_test::role_options("life_relay", {"inherit", "1", "0"});
    opt.out = tether::stdio::pipe();
    auto relay = tether::spawn(std::move(opt));
    auto ids = numbers(read_line_for(relay.take_stdout(), 30s));
    ASSERT_EQ(ids.size(), 2U);
    EXPECT_TRUE(running_now(ids[0]));
    EXPECT_TRUE(running_now(ids[1]));
    relay.kill();  // SIGKILL / TerminateProcess: no chance to clean up
    relay.wait();
    expect_ended(ids[0]);
    expect_ended(ids[1]);
}

// The whole tree: the grandchild left the group and has no kill_on_parent_exit of its own, so
// only the tree-wide guarantee (Linux: the watcher and the cgroup; Windows: the job) ends it.
TEST(KillOnParentExit, KillingTheParentEndsAGrandchildThatLeftTheGroup) {
    if (auto why = tether_test::no_whole_tree_on_parent_exit(); !why.empty()) GTEST_SKIP() << why;
    auto opt = tether_test::role_options("life_relay", {"new_group", "0", "0"});
    opt.out = tether::stdio::pipe();
    auto relay = tether::spawn(std::move(opt));
    auto ids = numbers(read_line_for(relay.take_stdout(), 30s));
    ASSERT_EQ(ids.size(), 2U);
    EXPECT_TRUE(running_now(ids[1]));
    relay.kill();
    relay.wait();
    expect_ended(ids[0]);
    expect_ended(ids[1]);
}

// ---- detached

TEST(Detached, ReportsItsIdAndCannotBeWaitedForOrSignalled) {
    auto report = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("life_detached_report");
    opt.detached = true;
    opt.pass(std::move(report.theirs), "report");
    auto c = tether::spawn(std::move(opt));
    ASSERT_TRUE(c);
    auto ids = numbers(read_line_for(report.ours, 30s));
    ASSERT_EQ(ids.size(), 1U);
    EXPECT_EQ(ids[0], c.pid());
    expect_ended(c.pid());
    try {
        c.wait();
        ADD_FAILURE() << "wait on a detached child";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::not_supported);
        EXPECT_TRUE(contains(e.what(), "detached")) << e.what();
    }
    std::error_code ec;
    c.kill(ec);
    EXPECT_EQ(ec, tether::errc::not_supported);
}

TEST(Detached, ConflictingOptionsAreRefusedNamingBoth) {
    struct bad_case {
        const char* name;
        void (*set)(tether::spawn_options&);
        const char* other;
    };
    const bad_case cases[] = {
        {"kill_on_parent_exit", [](tether::spawn_options& o) { o.kill_on_parent_exit = true; }, "kill_on_parent_exit"},
        {"kill_on_destroy", [](tether::spawn_options& o) { o.kill_on_destroy = true; }, "kill_on_destroy"},
        {"new_group", [](tether::spawn_options& o) { o.group = tether::process_group::new_group; }, "new_group"},
        {"stdout pipe", [](tether::spawn_options& o) { o.out = tether::stdio::pipe(); }, "stdout = stdio::pipe()"},
    };
    for (const auto& bc : cases) {
        auto opt = tether_test::role_options("life_exit", {"0"});
        opt.detached = true;
        bc.set(opt);
        std::error_code ec;
        std::string message;
        auto c = tether::spawn(std::move(opt), ec, message);
        EXPECT_FALSE(c) << bc.name;
        EXPECT_EQ(ec, tether::errc::invalid_argument) << bc.name;
        EXPECT_TRUE(contains(message, "detached") && contains(message, bc.other)) << bc.name << ": " << message;
    }
}
