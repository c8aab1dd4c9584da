// The one deadline type behind every timed call: saturating, never overflowing (issue: a
// receive_for(milliseconds::max()) used to overflow now() + timeout and time out at once).
#include "detail/deadline.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using tether::detail::deadline;

TEST(Deadline, HugeTimeoutsMeanNoLimit) {
    for (auto t : {std::chrono::milliseconds::max(), std::chrono::milliseconds(std::chrono::hours(24 * 365 * 300))}) {
        auto d = deadline::after(t);
        EXPECT_TRUE(d.is_never());
        EXPECT_FALSE(d.expired());
        EXPECT_EQ(d.poll_timeout(), -1);
        EXPECT_EQ(d.remaining(), std::chrono::milliseconds::max());
        EXPECT_EQ(d.remaining_ms<unsigned long>(0xFFFFFFFFul, 0xFFFFFFFEul), 0xFFFFFFFFul);
    }
}

TEST(Deadline, NegativeAndZeroMeanNow) {
    for (auto t : {std::chrono::milliseconds::min(), -1ms, 0ms}) {
        auto d = deadline::after(t);
        EXPECT_FALSE(d.is_never());
        EXPECT_TRUE(d.expired());
        EXPECT_EQ(d.poll_timeout(), 0);
    }
}

TEST(Deadline, RemainingRoundsUpAndClamps) {
    auto d = deadline::after(std::chrono::hours(24 * 365));  // a year: past INT_MAX ms
    EXPECT_EQ(d.poll_timeout(), std::numeric_limits<int>::max());
    EXPECT_EQ(d.remaining_ms<unsigned long>(0xFFFFFFFFul, 0xFFFFFFFEul), 0xFFFFFFFEul) << "Win32: below INFINITE";
    auto soon = deadline::after(1ms);
    EXPECT_LE(soon.poll_timeout(), 1);
    EXPECT_EQ(deadline::now().earlier(deadline::never()).is_never(), false);
    EXPECT_TRUE(deadline::never().earlier(deadline::never()).is_never());
}

// Behaviour through the public calls: a huge timeout waits for what comes later instead of
// timing out at once.
TEST(Deadline, ReceiveForMaxWaitsForTheReply) {
    auto [ours, theirs] = tether::make_channel();
    tether::channel peer(std::move(theirs));
    std::thread echo([&] {
        auto m = peer.receive();
        peer.send(m.payload);
    });
    ours.send_more("ping");  // queued: written by receive_for itself, so no reply can be there yet
    auto m = ours.receive_for(std::chrono::milliseconds::max());
    echo.join();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text(), "ping");
}

TEST(Deadline, ReadToEndForMaxReadsToTheEnd) {
    auto [r, w] = tether::make_pipe();
    std::thread writer([w = std::move(w)]() mutable {
        tether::write_all(w, "abc");
        w.reset();
    });
    std::error_code ec;
    auto text = tether::read_to_end_for(r, std::chrono::milliseconds::max(), ec);
    writer.join();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(text, "abc");
}

// A timed receive returns on time even while our queue cannot be written (the peer is alive
// but does not read): the queue stays for later.
TEST(Deadline, ReceiveForIsBoundedWhateverIsQueued) {
    auto [ours, theirs] = tether::make_channel();
    tether::channel peer(std::move(theirs));  // never reads
    std::string chunk(64 * 1024, 'q');
    std::error_code ec;
    for (int i = 0; i < 128 && !ec; ++i) ours.post(chunk, ec);  // 8 MiB: far more than a socket holds
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_GT(ours.queued_bytes(), 0u) << "the socket took everything: the test proves nothing";
    auto before = ours.queued_bytes();
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(ours.receive_for(50ms, ec));
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(ec, tether::errc::timed_out);
    EXPECT_LT(took, 30s) << "bounded by its timeout plus a small bound";
    EXPECT_EQ(ours.queued_bytes(), before) << "nothing could be written; nothing was dropped";
    EXPECT_TRUE(ours.is_open());
}
