// run() owns what it started: its timeout and output limit end the child's whole tree, not the
// child alone, on both systems, while the child stays in our process group (own_tree). The
// tree is the life_middle role of lifetime_test.cpp: a child that starts a grandchild, prints
// both ids, then blocks.
#include "support/harness.hpp"
#include "support/lifetime_support.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#ifndef _WIN32
#include <unistd.h>
#endif

using namespace std::chrono_literals;
using tether_test::contains;
using tether_test::numbers;

namespace {

// The grandchild's id from life_middle's line "<middle> <grandchild>".
std::int64_t grandchild_of(const std::string& out) {
    auto ids = numbers(out);
    return ids.size() == 2 ? ids[1] : -1;
}

// A run of life_middle that its own timeout ends: the line it printed, the error, the result.
struct timed_out_run {
    tether::run_result r;
    std::error_code ec;
    std::string message;
};

timed_out_run run_tree_until_timeout(bool end_tree) {
    tether::run_options ro;
    ro.timeout = 2s;  // the line comes long before: a tree that started is what is ended
    ro.end_tree = end_tree;
    timed_out_run t;
    t.r = tether::run(tether_test::role_options("life_middle", {"inherit", "0", "0"}), ro, t.ec, t.message);
    return t;
}

}  // namespace

TEST(RunTree, TimeoutEndsTheGrandchildToo) {
    auto t = run_tree_until_timeout(true);
    EXPECT_EQ(t.ec, tether::errc::timed_out) << t.message;
    EXPECT_TRUE(t.r.timed_out);
    EXPECT_TRUE(t.r.tree_ended);
    EXPECT_TRUE(contains(t.message, "ended with its tree")) << t.message;
    auto gc = grandchild_of(t.r.out);
    ASSERT_GT(gc, 0) << t.r.out;
    tether_test::expect_ended(gc);
}

// The opt-out: only the child is killed, so the grandchild must still run (then it is ended
// here). Shows that the test above can fail.
TEST(RunTree, WithoutEndTreeTheGrandchildRunsOn) {
    auto t = run_tree_until_timeout(false);
    EXPECT_EQ(t.ec, tether::errc::timed_out) << t.message;
    EXPECT_FALSE(t.r.tree_ended);
    auto gc = grandchild_of(t.r.out);
    ASSERT_GT(gc, 0) << t.r.out;
    EXPECT_TRUE(tether_test::running_now(gc)) << "grandchild " << gc << " was ended without end_tree";
    tether_test::end_if_running(gc);
}

TEST(RunTree, OutputLimitEndsTheTreeToo) {
    tether::run_options ro;
    ro.timeout = 60s;  // a hang fails here rather than blocking the suite
    ro.output_limit = 4;  // the id line is longer
    std::error_code ec;
    std::string message;
    auto r = tether::run(tether_test::role_options("life_middle", {"inherit", "0", "0"}), ro, ec, message);
    EXPECT_EQ(ec, tether::errc::output_limit) << message;
    EXPECT_TRUE(r.tree_ended);
    EXPECT_TRUE(contains(message, "ended with its tree")) << message;
}

TEST(RunTree, OwnTreeKeepsTheChildInOurGroupAndKillTreeReachesTheGrandchild) {
    auto opt = tether_test::role_options("life_middle", {"inherit", "0", "0"});
    opt.own_tree = true;
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto gc = grandchild_of(tether_test::read_line_for(c.take_stdout(), 30s));
    ASSERT_GT(gc, 0);
#ifndef _WIN32
    EXPECT_EQ(::getpgid(static_cast<pid_t>(c.pid())), ::getpgrp());  // Ctrl-C still reaches it
#endif
    c.kill_tree();
    EXPECT_FALSE(c.wait().success());
    tether_test::expect_ended(gc);
}

TEST(RunTree, OwnTreeWithDetachedIsRefused) {
    auto opt = tether_test::role_options("life_exit", {"0"});
    opt.own_tree = true;
    opt.detached = true;
    std::error_code ec;
    std::string message;
    auto c = tether::spawn(std::move(opt), ec, message);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
    EXPECT_TRUE(contains(message, "own_tree")) << message;
}
