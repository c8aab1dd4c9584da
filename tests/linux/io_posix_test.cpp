// tether's reads on a pipe end the user switched to O_NONBLOCK. read_for and try_read do not
// look at the flag (they poll first in either mode, so they need no fcntl to learn it): these
// check that a non-blocking end still waits until the deadline instead of saying would_block,
// that data and end-of-file come through, and that the flag is left as the user set it.
#include "support/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <string_view>
#include <vector>

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

// try_write on a blocking pipe moves what fits, not PIPE_BUF at a time (a poller feeding 1 MiB
// by hand would wake 256 times), never blocks once the pipe is full, and leaves the end's mode
// as it was (the child may share it).
TEST(IoPosix, TryWriteOnABlockingPipeMovesWhatFitsAndNeverBlocks) {
    auto [r, w] = tether::make_pipe();
    std::error_code ec;
    auto capacity = tether::pipe_capacity(w, ec);
    ASSERT_GT(capacity, std::size_t{PIPE_BUF}) << ec.message();
    std::vector<std::byte> mib(std::size_t{1} << 20, std::byte{'x'});
    auto first = tether::try_write(w, mib, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(first, capacity) << "an empty pipe takes its whole capacity";
    auto second = tether::try_write(w, mib, ec);  // full: would block, must not
    EXPECT_EQ(second, 0u);
    EXPECT_EQ(ec, tether::errc::would_block);
    EXPECT_FALSE(nonblocking(w)) << "the end's own mode changed";
    std::vector<std::byte> buf(capacity);
    std::size_t got = 0;
    while (got < first) got += tether::read(r, std::span(buf).subspan(0, first - got));
    EXPECT_EQ(got, first);
}

TEST(IoPosix, TryWriteOfMuchOnAReadEndNamesTheMistakeAndOnAGonePeerSaysSo) {
    auto [r, w] = tether::make_pipe();
    std::vector<std::byte> big(65536, std::byte{'y'});
    std::error_code ec;
    EXPECT_EQ(tether::try_write(r, big, ec), 0u);
    EXPECT_EQ(ec, tether::errc::wrong_direction) << ec.message();
    r.reset();
    EXPECT_EQ(tether::try_write(w, big, ec), 0u);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message();
}
