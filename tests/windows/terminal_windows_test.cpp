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
    tether_test::expect_spawn_fails_keeping_handles(opt, tether::errc::not_supported,
                                                    "terminals on Windows are not built yet");
    // Our end sees end-of-file once we drop theirs: no child holds it.
    opt.handles.clear();
    EXPECT_EQ(tether::read_to_end(ours.borrow()), "");
}
