// stdio::terminal() and tether::terminal, the parts every platform shares: the checks of bad
// input (before anything is created, keeping every handle) and the empty terminal.
#include <gtest/gtest.h>

#include <tether/error.hpp>
#include <tether/pipe.hpp>
#include <tether/spawn.hpp>
#include <tether/terminal.hpp>

#include "support/harness.hpp"

#include <string>

using tether_test::contains;

namespace {

// Options that must be refused: they also pass a pipe end, which the refusal must leave there.
tether::spawn_options with_a_passed_handle(tether::unique_handle& kept_ours) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    kept_ours = std::move(ours);
    tether::spawn_options opt;
    opt.argv = {"prog"};
    opt.pass(std::move(theirs), "log");
    return opt;
}

void expect_refused(tether::spawn_options& opt, std::string_view says) {
    tether_test::expect_spawn_fails_keeping_handles(opt, tether::errc::invalid_argument, says);
}

// `call` must throw a std::system_error of `code` whose what() holds `says`.
template <class Call>
void expect_error(Call&& call, tether::errc code, std::string_view says) {
    try {
        call();
        ADD_FAILURE() << "no exception; expected one saying: " << says;
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), code);
        EXPECT_TRUE(contains(e.what(), says)) << e.what();
    }
}

}  // namespace

TEST(Terminal, ADimensionOfZeroIsRefusedNamingTheStream) {
    tether::unique_handle ours;
    auto opt = with_a_passed_handle(ours);
    opt.out = tether::stdio::terminal(0, 24);
    expect_refused(opt, "stdout asks for a terminal of 0 x 24 (columns x rows): each must be 1 to 65535");
}

TEST(Terminal, ADimensionAbove65535IsRefused) {
    tether::unique_handle ours;
    auto opt = with_a_passed_handle(ours);
    opt.in = tether::stdio::terminal(80, 65536);
    expect_refused(opt, "stdin asks for a terminal of 80 x 65536");
}

TEST(Terminal, StreamsAskingForDifferentSizesAreRefused) {
    tether::unique_handle ours;
    auto opt = with_a_passed_handle(ours);
    opt.in = tether::stdio::terminal(100, 30);
    opt.out = tether::stdio::terminal();
    expect_refused(opt, "stdin asks for a terminal of 100 x 30 and stdout for 80 x 24: the streams share one terminal");
}

TEST(Terminal, ADetachedChildCannotHaveATerminal) {
    tether::unique_handle ours;
    auto opt = with_a_passed_handle(ours);
    opt.detached = true;
    opt.err = tether::stdio::terminal();
    expect_refused(opt, "detached and stderr = stdio::terminal() contradict each other");
}

TEST(Terminal, AnEmptyTerminalHasNoHandlesAndRefusesResizeAndSize) {
    tether::terminal t;
    EXPECT_FALSE(t);
    EXPECT_FALSE(t.input());
    EXPECT_FALSE(t.output());
    std::error_code ec;
    t.resize(80, 24, ec);
    EXPECT_EQ(ec, tether::errc::closed);
    EXPECT_EQ(t.size(ec), (tether::terminal_size{0, 0}));
    EXPECT_EQ(ec, tether::errc::closed);
    expect_error([&] { t.resize(80, 24); }, tether::errc::closed, "terminal::resize: the terminal is closed");
    EXPECT_THROW((void)t.size(), std::system_error);
    t.close();  // idempotent on an empty one
    EXPECT_FALSE(t);
}

TEST(Terminal, ResizeChecksTheSizeFirst) {
    tether::terminal t;
    std::error_code ec;
    t.resize(0, 10, ec);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
    expect_error([&] { t.resize(70000, 10); }, tether::errc::invalid_argument,
                 "terminal::resize asks for a terminal of 70000 x 10");
}

TEST(Terminal, AChildWithoutATerminalGivesAnEmptyOne) {
    auto c = tether::spawn(tether_test::role_options("exit_with", {"0"}));
    EXPECT_FALSE(c.take_terminal());
    c.wait();
}
