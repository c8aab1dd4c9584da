// Windows only: terminals are not built yet (a pseudo console is to come). spawn() refuses a
// stdio::terminal() with errc::not_supported, saying so, before anything is created: the
// options keep every handle, and no child is started.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

TEST(WindowsTerminal, ATerminalIsRefusedAsNotBuiltYetAndNothingIsLost) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.in = tether::stdio::terminal();
    opt.out = tether::stdio::terminal();
    opt.pass(std::move(theirs), "log");
    auto value = opt.handles[0].h.get();
    std::error_code ec;
    std::string message;
    auto c = tether::spawn(std::move(opt), ec, message);
    EXPECT_FALSE(c);
    EXPECT_EQ(ec, tether::errc::not_supported) << message;
    EXPECT_NE(message.find("terminals on Windows are not built yet"), std::string::npos) << message;
    ASSERT_EQ(opt.handles.size(), 1u);  // NOLINT(bugprone-use-after-move): a refusal keeps them
    EXPECT_EQ(opt.handles[0].h.get(), value);
    EXPECT_TRUE(tether_test::is_open(value));
    // Our end sees end-of-file once we drop theirs: no child holds it.
    opt.handles.clear();
    EXPECT_EQ(tether::read_to_end(ours.borrow()), "");
}
