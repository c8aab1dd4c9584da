// tether's reads on a pipe end the user switched to O_NONBLOCK. read_for and try_read do not
// look at the flag (they poll first in either mode, so they need no fcntl to learn it): these
// check that a non-blocking end still waits until the deadline instead of saying would_block,
// that data and end-of-file come through, and that the flag is left as the user set it.
#include "support/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string_view>

using namespace std::chrono_literals;

namespace {

using tether_test::make_nonblocking;
using tether_test::nonblocking;

}  // namespace

TEST(IoPosix, ReadForOnANonBlockingEndWaitsUntilTheDeadline) {
    auto [r, w] = tether::make_pipe();
    ASSERT_TRUE(make_nonblocking(r));
    std::byte b[8];
    std::error_code ec;
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(tether::read_for(r, b, 50ms, ec), 0u);
    EXPECT_EQ(ec, tether::errc::timed_out) << "not would_block: the deadline is the caller's limit";
    EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
    tether::write_all(w, std::string_view("late"));
    EXPECT_EQ(tether::read_for(r, b, 10s, ec), 4u);
    EXPECT_FALSE(ec) << ec.message();
    w.reset();
    EXPECT_EQ(tether::read_for(r, b, 10s, ec), 0u);
    EXPECT_FALSE(ec) << "end-of-file is not an error: " << ec.message();
    EXPECT_TRUE(nonblocking(r)) << "the user's flag was changed";
}

TEST(IoPosix, TryReadSaysWouldBlockInEitherModeAndLeavesTheFlag) {
    for (bool nb : {false, true}) {
        SCOPED_TRACE(nb ? "non-blocking end" : "blocking end");
        auto [r, w] = tether::make_pipe();
        if (nb) {
            ASSERT_TRUE(make_nonblocking(r));
        }
        std::byte b[8];
        std::error_code ec;
        EXPECT_EQ(tether::try_read(r, b, ec), 0u);
        EXPECT_EQ(ec, tether::errc::would_block);
        tether::write_all(w, std::string_view("abc"));
        EXPECT_EQ(tether::try_read(r, b, ec), 3u);
        EXPECT_FALSE(ec) << ec.message();
        w.reset();
        EXPECT_EQ(tether::try_read(r, b, ec), 0u);
        EXPECT_FALSE(ec) << "end-of-file: " << ec.message();
        EXPECT_EQ(nonblocking(r), nb) << "the flag was changed";
    }
}

TEST(IoPosix, ReadWithoutADeadlineOnANonBlockingEndGivesDataThenEndOfFile) {
    auto [r, w] = tether::make_pipe();
    ASSERT_TRUE(make_nonblocking(r));
    tether::write_all(w, std::string_view("xy"));
    std::byte b[8];
    EXPECT_EQ(tether::read(r, b), 2u);
    w.reset();
    EXPECT_EQ(tether::read(r, b), 0u) << "end-of-file, not would_block";
}
