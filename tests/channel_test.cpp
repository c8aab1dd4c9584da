// Shared channel behaviour (both platforms): messages, goodbye vs vanished, exit status joined
// with the child, hostile frames from a raw peer, timeouts, error_code overloads, coalescing.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>

using namespace std::chrono_literals;

using tether_test::spawn_with_channel;

namespace {

// How a channel's errors name it: by the system's word for its handle.
#ifdef _WIN32
constexpr const char* channel_named = "channel (handle ";
#else
constexpr const char* channel_named = "channel (descriptor ";
#endif

std::span<const std::byte> as_bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// A raw frame header, as a broken or hostile peer might write it.
std::vector<std::byte> raw_header(int kind, int flags, int handles, std::uint32_t length) {
    std::vector<std::byte> h(12);
    auto set = [&](std::size_t i, unsigned v) { h[i] = static_cast<std::byte>(v & 0xff); };
    set(0, 0x54), set(1, 0x54), set(2, 1), set(3, static_cast<unsigned>(kind));
    set(4, static_cast<unsigned>(flags)), set(5, static_cast<unsigned>(flags) >> 8);
    set(6, static_cast<unsigned>(handles)), set(7, static_cast<unsigned>(handles) >> 8);
    for (int i = 0; i < 4; ++i) set(8 + static_cast<std::size_t>(i), length >> (8 * i));
    return h;
}

}  // namespace

// The channel tests run on both platforms (the Windows backend has its own tests for handle
// passing in tests/windows/channel_windows_test.cpp).
class Channel : public testing::Test {};

// Echoes every data message (payload and handles) back; answers goodbye with goodbye.
TETHER_CHILD_ROLE(ch_echo) {
    auto ctl = tether::channel::inherited("control");
    for (;;) {
        auto m = ctl.receive();
        if (m.is_goodbye()) {
            ctl.close();
            return 0;
        }
        if (m.is_vanished()) return 2;
        ctl.send_with_handles(m.payload, std::move(m.handles));
    }
}

// Says hello, then ends as args[0] says: "goodbye", "exit N" (no goodbye), "wait" (until killed).
TETHER_CHILD_ROLE(ch_hello_then) {
    auto ctl = tether::channel::inherited("control");
    ctl.send("hello");
    if (args.at(0) == "goodbye") {
        ctl.close();
        return 0;
    }
    if (args.at(0) == "exit") return std::stoi(args.at(1));
    (void)ctl.receive();  // "wait": blocks until the parent kills us
    return 4;
}

// Receives one channel end as a handle over the control channel and talks on it.
TETHER_CHILD_ROLE(ch_adopt_channel) {
    auto ctl = tether::channel::inherited("control");
    auto m = ctl.receive();
    if (m.handles.size() != 1) return 10;
    tether::channel second(std::move(m.handles[0]));
    second.send("hello on the second channel");
    second.close();
    ctl.close();
    return 0;
}

TEST_F(Channel, MessagesRoundTripInProcess) {
    auto [a, theirs] = tether::make_channel();
    tether::channel b(std::move(theirs));
    a.send("one");
    a.send(as_bytes(std::string_view("\0two", 4)));
    a.send("");
    auto m1 = b.receive();
    EXPECT_TRUE(m1.is_data());
    EXPECT_EQ(m1.text(), "one");
    EXPECT_EQ(b.receive().text(), std::string_view("\0two", 4));
    auto m3 = b.receive();
    EXPECT_TRUE(m3.is_data());
    EXPECT_TRUE(m3.payload.empty());
    EXPECT_EQ(m3.describe(), "data (0 bytes)");
    b.send("back");
    EXPECT_EQ(a.receive().text(), "back");
}

TEST_F(Channel, ReceiveIntoReplacesEverythingAndReusesThePayloadStorage) {
    auto [a, theirs] = tether::make_channel();
    tether::channel b(std::move(theirs));
    const std::string first(200, 'f');
    a.send(first);
    tether::message m;
    b.receive_into(m);
    ASSERT_EQ(m.text(), first);
    a.send("short");
    b.receive_into(m);
    EXPECT_EQ(m.text(), "short");
    // A fresh vector for "short" would hold 5 bytes; the old storage holds 200.
    EXPECT_GE(m.payload.capacity(), first.size()) << "the payload was not received into the old storage";

    auto [r, w] = tether::make_pipe();
    std::vector<tether::unique_handle> hs;
    hs.push_back(std::move(r));
    a.send_with_handles(as_bytes(std::string_view("with a handle")), std::move(hs));
    b.receive_into(m);
    EXPECT_EQ(m.text(), "with a handle");
    ASSERT_EQ(m.handles.size(), 1u);
    a.send("again");
    b.receive_into(m);
    EXPECT_TRUE(m.is_data());
    EXPECT_EQ(m.text(), "again");
    EXPECT_TRUE(m.handles.empty()) << "the previous message's handle must not stay";

    a.close();
    b.receive_into(m);
    EXPECT_TRUE(m.is_goodbye()) << m.describe();
    EXPECT_TRUE(m.payload.empty());

    b.close();
    std::error_code ec;
    b.receive_into(m, ec);
    EXPECT_EQ(ec, tether::errc::closed);
    EXPECT_TRUE(m.is_data());
    EXPECT_TRUE(m.payload.empty());
}

TEST_F(Channel, ThrowingReceiveIntoNamesTheChannelOnProtocolError) {
    auto [ours, theirs] = tether::make_channel();
    tether::write_all(theirs, "GET / HTTP/1.1\r\n");
    tether::message m;
    try {
        ours.receive_into(m);
        FAIL() << "expected a protocol error";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::protocol_error);
        EXPECT_NE(std::string(e.what()).find(channel_named), std::string::npos) << e.what();
    }
}

TEST_F(Channel, GoodbyeIsReportedAsGoodbyeAndIsSticky) {
    auto [ours, theirs] = tether::make_channel();
    auto c = spawn_with_channel("ch_hello_then", std::move(theirs), {"goodbye"});
    EXPECT_EQ(ours.receive(c).text(), "hello");
    auto m = ours.receive(c);
    EXPECT_TRUE(m.is_goodbye()) << m.describe();
    EXPECT_EQ(m.describe(), "goodbye");
    EXPECT_TRUE(ours.receive().is_goodbye());  // again, without touching the OS
    EXPECT_TRUE(c.wait().success());
}

TEST_F(Channel, ExitWithoutCloseIsVanishedWithTheExitCode) {
    for (int code : {0, 3}) {
        auto [ours, theirs] = tether::make_channel();
        auto c = spawn_with_channel("ch_hello_then", std::move(theirs), {"exit", std::to_string(code)});
        EXPECT_EQ(ours.receive(c).text(), "hello");
        auto m = ours.receive(c);
        ASSERT_TRUE(m.is_vanished()) << m.describe();
        ASSERT_TRUE(m.peer_status);
        EXPECT_EQ(m.peer_status->code, code);
        EXPECT_EQ(m.describe(), "vanished: exited with code " + std::to_string(code));
    }
}

TEST_F(Channel, KilledPeerIsVanishedAndSaysHow) {
    auto [ours, theirs] = tether::make_channel();
    auto c = spawn_with_channel("ch_hello_then", std::move(theirs), {"wait"});
    EXPECT_EQ(ours.receive().text(), "hello");
    c.kill();
    auto m = ours.receive(c);
    ASSERT_TRUE(m.is_vanished()) << m.describe();
    ASSERT_TRUE(m.peer_status);
    EXPECT_FALSE(m.peer_status->success());
    EXPECT_EQ(m.describe(), "vanished: " + m.peer_status->describe());  // exact text: posix test
}

TEST_F(Channel, DroppedEndWithoutGoodbyeIsVanishedInProcess) {
    auto [ours, theirs] = tether::make_channel();
    {
        tether::channel peer(std::move(theirs));
        peer.send("last words");
    }  // destructor: no goodbye
    EXPECT_EQ(ours.receive().text(), "last words");
    auto m = ours.receive();
    EXPECT_TRUE(m.is_vanished());
    EXPECT_EQ(m.describe(), "vanished");
}

TEST_F(Channel, ReceiveForTimesOutThenDelivers) {
    auto [a, theirs] = tether::make_channel();
    tether::channel b(std::move(theirs));
    std::error_code ec;
    auto none = b.receive_for(30ms, ec);
    EXPECT_FALSE(none);
    EXPECT_EQ(ec, tether::errc::timed_out);
    EXPECT_FALSE(b.receive_for(0ms)) << "the throwing form returns nullopt on timeout";
    a.send("now");
    auto m = b.receive_for(5s, ec);
    ASSERT_TRUE(m);
    EXPECT_FALSE(ec);
    EXPECT_EQ(m->text(), "now");
}

TEST_F(Channel, PartialFrameSurvivesATimeout) {
    auto [ours, theirs] = tether::make_channel();
    auto frame = raw_header(1, 0, 0, 5);
    tether::write_all(theirs, std::span<const std::byte>(frame));
    tether::write_all(theirs, "he");
    EXPECT_FALSE(ours.receive_for(20ms));
    tether::write_all(theirs, "llo");
    auto m = ours.receive_for(5s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text(), "hello");
}

struct hostile_case {
    const char* name;
    std::vector<std::byte> bytes;
    bool close_after;  // the raw peer closes its end after writing
    tether::errc expected;
};

TEST_F(Channel, HostileFramesFailCleanlyAndCloseTheChannel) {
    std::vector<std::byte> text(12, std::byte{'x'});
    auto truncated = raw_header(1, 0, 0, 100);
    truncated.resize(12 + 40);
    auto phantom_handle = raw_header(1, 0, 1, 0);
    phantom_handle.resize(12 + 8);  // the handle table: one (zero) wire value, no descriptor
    const hostile_case cases[] = {
        {"garbage text", text, false, tether::errc::protocol_error},
        {"unknown kind 7", raw_header(7, 0, 0, 0), false, tether::errc::protocol_error},
        {"reserved flag", raw_header(1, 0x10, 0, 0), false, tether::errc::protocol_error},
        {"oversized length (4 GiB - 1)", raw_header(1, 0, 0, 0xffffffffu), false, tether::errc::message_too_large},
        {"just over the maximum", raw_header(1, 0, 0, 1024 + 1), false, tether::errc::message_too_large},
        {"goodbye with a body", raw_header(2, 0, 0, 3), false, tether::errc::protocol_error},
        {"handles announced, none sent", phantom_handle, false, tether::errc::protocol_error},
    };
    for (const auto& c : cases) {
        auto [ours, theirs] = tether::make_channel(tether::channel_options{1024});
        tether::write_all(theirs, std::span<const std::byte>(c.bytes));
        if (c.close_after) theirs.reset();
        std::error_code ec;
        auto m = ours.receive_for(5s, ec);
        EXPECT_EQ(ec, c.expected) << c.name << ": " << ec.message();
        EXPECT_FALSE(m) << c.name;
        EXPECT_FALSE(ours.is_open()) << c.name << ": the channel must be closed after a protocol error";
        ours.receive(ec);
        EXPECT_EQ(ec, tether::errc::closed) << c.name;
    }
}

// A frame cut short by end-of-file is the peer dying while it sent: vanished, not a protocol
// error (the partial frame is dropped; the channel then reports vanished again).
TEST_F(Channel, FrameCutShortByEndOfFileIsVanished) {
    auto truncated = raw_header(1, 0, 0, 100);
    truncated.resize(12 + 40);
    const std::pair<const char*, std::vector<std::byte>> cases[] = {
        {"truncated payload", truncated},
        {"truncated header", std::vector<std::byte>(5, std::byte{0x54})},
    };
    for (const auto& [name, bytes] : cases) {
        auto [ours, theirs] = tether::make_channel(tether::channel_options{1024});
        tether::write_all(theirs, std::span<const std::byte>(bytes));
        theirs.reset();
        std::error_code ec;
        auto m = ours.receive_for(5s, ec);
        EXPECT_FALSE(ec) << name << ": " << ec.message();
        ASSERT_TRUE(m) << name;
        EXPECT_TRUE(m->is_vanished()) << name << ": " << m->describe();
        EXPECT_TRUE(ours.receive().is_vanished()) << name;
    }
}

// Sends "ready", then one 8 MiB message, far more than a socket or pipe holds: a parent that
// does not read leaves the child blocked in the middle of the send (see the POSIX test that
// kills it exactly there, tests/linux/channel_posix_test.cpp).
TETHER_CHILD_ROLE(ch_large_sender) {
    auto ctl = tether::channel::inherited("control");
    ctl.send("ready");
    ctl.send(std::string(8 * 1024 * 1024, 'L'));
    return 0;
}

TEST_F(Channel, PeerKilledWhileSendingALargeMessageVanished) {
    auto [ours, theirs] = tether::make_channel();
    auto worker = spawn_with_channel("ch_large_sender", std::move(theirs));
    ASSERT_EQ(ours.receive().text(), "ready");
    worker.kill();
    auto m = ours.receive(worker);
    EXPECT_TRUE(m.is_vanished()) << m.describe();
    ASSERT_TRUE(m.peer_status) << m.describe();
    EXPECT_FALSE(m.peer_status->success()) << m.describe();
}

TEST_F(Channel, ThrowingReceiveNamesTheChannelOnProtocolError) {
    auto [ours, theirs] = tether::make_channel();
    tether::write_all(theirs, "GET / HTTP/1.1\r\n");
    try {
        (void)ours.receive();
        FAIL() << "expected a protocol error";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::protocol_error);
        EXPECT_NE(std::string(e.what()).find(channel_named), std::string::npos) << e.what();
    }
}

TEST_F(Channel, ErrorCodeOverloadsFillTheCode) {
    auto [ours, theirs] = tether::make_channel(tether::channel_options{16});
    std::error_code ec;
    ours.send(std::string(17, 'x'), ec);
    EXPECT_EQ(ec, tether::errc::message_too_large);
    ours.send_handle(tether::unique_handle(), ec);
    EXPECT_EQ(ec, tether::errc::invalid_argument) << "an empty handle cannot be sent";
    theirs.reset();  // the peer is gone
    ours.send("anyone?", ec);
    EXPECT_EQ(ec, tether::errc::peer_gone);
    EXPECT_THROW(ours.send("anyone?"), std::system_error);
    ours.send_more("queued", ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << "once a write found the peer gone, sends say so at once";
    ours.flush(ec);
    EXPECT_FALSE(ec) << "nothing is queued for a peer that is gone";
    ours.close(ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << "goodbye to a peer that is gone";
    EXPECT_FALSE(ours.is_open());
    ours.close(ec);
    EXPECT_FALSE(ec) << "closing twice is harmless";
    ours.send("x", ec);
    EXPECT_EQ(ec, tether::errc::closed);
    ours.flush(ec);
    EXPECT_EQ(ec, tether::errc::closed);
    ours.send_more("x", ec);
    EXPECT_EQ(ec, tether::errc::closed);
    EXPECT_FALSE(ours.receive_for(1ms, ec));
    EXPECT_EQ(ec, tether::errc::closed);
    tether::channel empty;
    empty.receive(ec);
    EXPECT_EQ(ec, tether::errc::closed);
    EXPECT_THROW(empty.receive(), std::system_error);
}

TEST_F(Channel, CloseAfterThePeerEndedSendsNoGoodbyeAndIsNoError) {
    auto [ours, theirs] = tether::make_channel();
    theirs.reset();
    std::error_code ec;
    EXPECT_TRUE(ours.receive(ec).is_vanished());
    EXPECT_FALSE(ec);
    ours.close(ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(ours.is_open());
}

TEST_F(Channel, AdoptingSomethingThatIsNotAChannelFails) {
    auto [r, w] = tether::make_pipe();
    try {
        tether::channel c(std::move(r));
        FAIL() << "a pipe is not a channel end";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument);
        EXPECT_NE(std::string(e.what()).find("not a tether channel end"), std::string::npos) << e.what();
    }
}

TEST_F(Channel, InheritedWithoutManifestNamesTheProblem) {
    EXPECT_THROW(tether::channel::inherited("control"), std::system_error);
}

TEST_F(Channel, SendMoreIsCoalescedAndReceiveFlushesBeforeWaiting) {
    auto [ours, theirs] = tether::make_channel();
    auto c = spawn_with_channel("ch_echo", std::move(theirs));
    for (int i = 0; i < 2000; ++i) ours.send_more("message " + std::to_string(i));
    // receive() must flush first, or this would wait for echoes of messages never sent.
    for (int i = 0; i < 2000; ++i) {
        auto m = ours.receive_for(20s);
        ASSERT_TRUE(m) << "echo " << i << " did not come";
        ASSERT_EQ(m->text(), "message " + std::to_string(i));
    }
    ours.close();
    EXPECT_TRUE(c.wait().success());
}

TEST_F(Channel, LargeMessagesRoundTrip) {
    auto [ours, theirs] = tether::make_channel();
    auto c = spawn_with_channel("ch_echo", std::move(theirs));
    for (std::size_t size : {32u * 1024, 64u * 1024 - 12, 64u * 1024, 3u * 1024 * 1024 + 7}) {
        std::string big(size, '\0');
        for (std::size_t i = 0; i < size; ++i) big[i] = static_cast<char>('a' + i % 26);
        ours.send_more("small before");
        ours.send(big);
        EXPECT_EQ(ours.receive().text(), "small before");
        auto m = ours.receive();
        ASSERT_EQ(m.payload.size(), size);
        EXPECT_TRUE(m.text() == big) << "payload of " << size << " bytes differs";
    }
    ours.close();
    EXPECT_TRUE(c.wait().success());
}

TEST_F(Channel, SendMoreWritesByItselfWhenTheBufferFills) {
    auto [a, theirs] = tether::make_channel();
    tether::channel b(std::move(theirs));
    const std::string msg(100, 'q');
    const int total = 1000;  // about 110 KiB of frames: more than the 64 KiB send buffer
    for (int i = 0; i < total; ++i) a.send_more(msg);
    int got = 0;
    while (auto m = b.receive_for(100ms)) {  // no flush yet: only what the full buffer wrote
        ASSERT_EQ(m->text(), msg);
        ++got;
    }
    EXPECT_GT(got, 0) << "a full buffer must be written without an explicit flush";
    EXPECT_LT(got, total) << "the tail must still be queued until flush()";
    a.flush();
    while (got < total) {
        auto m = b.receive_for(5s);
        ASSERT_TRUE(m) << "message " << got << " missing after flush()";
        ++got;
    }
}

TEST_F(Channel, AChannelEndTravelsOverAChannel) {
    auto [ctl, theirs] = tether::make_channel();
    auto c = spawn_with_channel("ch_adopt_channel", std::move(theirs));
    auto [second, second_theirs] = tether::make_channel();
    ctl.send_handle(std::move(second_theirs));
    EXPECT_EQ(second.receive().text(), "hello on the second channel");
    EXPECT_TRUE(second.receive().is_goodbye());
    EXPECT_TRUE(ctl.receive().is_goodbye());
    EXPECT_TRUE(c.wait().success());
}


// Every timed call is bounded by its timeout, whatever is queued, and whoever queued it: the
// peer is alive but never reads, and the socket fills while the receive writes our queue.
TEST_F(Channel, ReceiveForIsBoundedWhateverIsQueuedToAPeerThatDoesNotRead) {
    auto bounded = [](tether::channel& ours, const char* state) {
        for (auto timeout : {0ms, 50ms}) {
            auto start = std::chrono::steady_clock::now();
            std::error_code ec;
            EXPECT_FALSE(ours.receive_for(timeout, ec)) << state;
            EXPECT_EQ(ec, tether::errc::timed_out) << state;
            auto took = std::chrono::steady_clock::now() - start;
            EXPECT_LT(took, timeout + 2s) << state << ": receive_for(" << timeout.count() << " ms) blocked on our own queue";
        }
        EXPECT_GT(ours.queued_bytes(), 0u) << state << ": the output stays queued";
    };
    {
        auto [ours, theirs] = tether::make_channel();
        tether::channel peer(std::move(theirs));  // open, never read
        ours.send_more(std::string(4 << 20, 'y'));  // larger than the socket holds, nothing written yet
        bounded(ours, "one large send_more() frame");
    }
    {
        auto [ours, theirs] = tether::make_channel();
        tether::channel peer(std::move(theirs));
        for (int k = 0; k < 3; ++k) ours.send_more("small");
        ours.post(std::string(4 << 20, 'x'));  // writes what fits, queues the rest
        bounded(ours, "send_more() and post() queued");
    }
}

