// Reads tied to a child (tether/tied.hpp): end-of-file that never comes because a grandchild
// keeps the pipe ends the read once the child has exited and the grace has passed, with
// errc::held_open naming the holder; a pipe that closes normally reads to its end as before.
#include "support/harness.hpp"
#include "support/lifetime_support.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <iostream>

using namespace std::chrono_literals;
using tether_test::contains;

// tied_leave_holder: starts life_block (lifetime_test.cpp), which inherits our stdout, prints
// its id, and exits: the grandchild keeps the pipe's write end.
TETHER_CHILD_ROLE(tied_leave_holder) {
    auto opt = tether_test::role_options("life_block");
    opt.in = tether::stdio::null();
    auto gc = tether::spawn(std::move(opt));
    std::cout << gc.pid() << "\n" << std::flush;
    gc.detach();
    return 0;
}

// tied_say TEXT: writes TEXT to stdout and exits.
TETHER_CHILD_ROLE(tied_say) {
    std::cout << args.at(0) << std::flush;
    return 0;
}

namespace {

tether::child start(const std::string& role, const std::vector<std::string>& args = {}) {
    auto opt = tether_test::role_options(role, args);
    opt.out = tether::stdio::pipe();
    return tether::spawn(std::move(opt));
}

}  // namespace

TEST(TiedRead, AGrandchildKeepingThePipeEndsTheReadWithHeldOpenNamingIt) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    std::error_code ec;
    std::string who;
    auto text = tether::read_to_end(out, c, 300ms, ec, who);
    auto gc = std::stoll(text);
    EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
    ASSERT_TRUE(c.status().has_value()) << "the child was not waited for";
    EXPECT_TRUE(c.status()->success()) << c.status()->describe();
    EXPECT_TRUE(contains(who, "PID " + std::to_string(gc))) << who;
    EXPECT_TRUE(tether_test::running_now(gc)) << "the read is to report the holder, not to end it";
    tether_test::end_if_running(gc);
}

TEST(TiedRead, APipeThatClosesReadsToItsEnd) {
    auto c = start("tied_say", {"hello"});
    auto out = c.take_stdout();
    std::error_code ec;
    std::string who;
    EXPECT_EQ(tether::read_to_end(out, c, 10s, ec, who), "hello");
    EXPECT_FALSE(ec) << ec.message() << ": " << who;
    EXPECT_TRUE(who.empty()) << who;
}

TEST(TiedRead, TheThrowingOverloadSaysHeldOpenAndWho) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    std::int64_t gc = -1;
    try {
        (void)tether::read_to_end(out, c, 100ms);
        ADD_FAILURE() << "expected errc::held_open";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::held_open);
        EXPECT_TRUE(contains(e.what(), "still held open by PID")) << e.what();
        auto what = std::string(e.what());
        auto at = what.find("by PID ");
        if (at != std::string::npos) gc = std::stoll(what.substr(at + 7));
    }
    if (gc > 0) tether_test::end_if_running(gc);
}

TEST(TiedRead, BadArgumentsAreNamed) {
    tether::child empty;
    auto [r, w] = tether::make_pipe();
    std::error_code ec;
    std::string who;
    (void)tether::read_to_end(r, empty, 100ms, ec, who);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
    EXPECT_TRUE(contains(who, "empty")) << who;
    auto c = start("tied_say", {"x"});
    (void)tether::read_to_end(r, c, -1ms, ec, who);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
    EXPECT_TRUE(contains(who, "-1 ms")) << who;
    c.wait();
}
