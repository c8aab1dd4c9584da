// Shared behaviour (both platforms): spawn, stdio pipes, exit status, named handles.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <iostream>

using namespace std::chrono_literals;

TETHER_CHILD_ROLE(exit_with) { return std::stoi(args.at(0)); }

TETHER_CHILD_ROLE(echo_args) {
    for (const auto& a : args) std::cout << a << "\n";
    return 0;
}

TETHER_CHILD_ROLE(write_to_named) {
    auto h = tether::inherited(args.at(0));
    tether::write_all(h, args.at(1));
    return 0;
}

TEST(Spawn, ExitCodeIsReported) {
    auto c = tether::spawn(tether_test::role_options("exit_with", {"7"}));
    auto st = c.wait();
    EXPECT_TRUE(st.exited());
    EXPECT_EQ(st.code, 7);
    EXPECT_EQ(st.describe(), "exited with code 7");
}

TEST(Spawn, StdoutPipeCarriesArgumentsVerbatim) {
    auto opt = tether_test::role_options("echo_args", {"a b", "", "\"q\"", "back\\slash"});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto out = tether::take_stdout_text(c);
    EXPECT_EQ(out, "a b\n\n\"q\"\nback\\slash\n");
    EXPECT_TRUE(c.wait().success());
}

TEST(Spawn, NamedHandleReachesChildAndParentCopyIsClosed) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("write_to_named", {"log", "hello"});
    opt.pass(std::move(theirs), "log");
    auto c = tether::spawn(std::move(opt));
    EXPECT_FALSE(theirs);  // moved into the options, and the options' copy closed by spawn
    std::error_code ec;
    auto text = tether::read_to_end_for(ours, 20s, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(text, "hello");
    EXPECT_TRUE(c.wait().success());
}
