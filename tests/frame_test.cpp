// The frame decoder on its own: a table of headers good and bad, and the stream reader fed in
// every possible split. No processes involved.
#include "detail/channel_engine.hpp"
#include "detail/frame.hpp"

#include <tether/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace {

using tether::detail::frame;
using tether::detail::frame_header_size;
using tether::detail::frame_kind;
using tether::detail::frame_limits;
using tether::detail::frame_reader;

std::vector<std::byte> bytes(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int b : v) out.push_back(static_cast<std::byte>(b));
    return out;
}

std::vector<std::byte> data_frame(std::string_view text, std::size_t handles = 0) {
    std::vector<std::byte> out;
    std::vector<std::uint64_t> wire(handles, 0);
    tether::detail::append_frame(out, frame_kind::data, wire, std::as_bytes(std::span(text.data(), text.size())));
    return out;
}

struct header_case {
    const char* name;
    std::vector<std::byte> header;
    std::error_code expected;
};

TEST(FrameHeader, TableOfValidAndInvalidHeaders) {
    using tether::errc;
    const std::error_code ok{};
    const header_case cases[] = {
        {"data, 5 bytes", bytes({0x54, 0x54, 1, 1, 0, 0, 0, 0, 5, 0, 0, 0}), ok},
        {"goodbye", bytes({0x54, 0x54, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0}), ok},
        {"data, 64 handles", bytes({0x54, 0x54, 1, 1, 0, 0, 64, 0, 0, 0, 0, 0}), ok},
        {"length exactly the maximum", bytes({0x54, 0x54, 1, 1, 0, 0, 0, 0, 0, 4, 0, 0}), ok},
        {"bad magic", bytes({0x54, 0x55, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"text instead of a frame", bytes({'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'}), errc::protocol_error},
        {"version 2", bytes({0x54, 0x54, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"kind 0", bytes({0x54, 0x54, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"kind 3 (unknown)", bytes({0x54, 0x54, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"kind 255", bytes({0x54, 0x54, 1, 255, 0, 0, 0, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"reserved flag bit 0", bytes({0x54, 0x54, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"reserved flag bit 15", bytes({0x54, 0x54, 1, 1, 0, 0x80, 0, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"65 handles", bytes({0x54, 0x54, 1, 1, 0, 0, 65, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"65535 handles", bytes({0x54, 0x54, 1, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0}), errc::protocol_error},
        {"goodbye with payload", bytes({0x54, 0x54, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0}), errc::protocol_error},
        {"goodbye with a handle", bytes({0x54, 0x54, 1, 2, 0, 0, 1, 0, 0, 0, 0, 0}), errc::protocol_error},
        {"length maximum + 1", bytes({0x54, 0x54, 1, 1, 0, 0, 0, 0, 1, 4, 0, 0}), errc::message_too_large},
        {"length 4 GiB - 1", bytes({0x54, 0x54, 1, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}), errc::message_too_large},
    };
    frame_limits limits{1024, 64};
    for (const auto& c : cases) {
        tether::detail::frame_header h;
        auto ec = tether::detail::decode_header(std::span<const std::byte, frame_header_size>(c.header.data(), frame_header_size),
                                                limits, h);
        EXPECT_EQ(ec, c.expected) << c.name << ": got " << ec.message();
    }
}

TEST(FrameHeader, EncodeDecodeRoundTrip) {
    tether::detail::frame_header in{frame_kind::data, 0, 3, 70000}, out;
    std::array<std::byte, frame_header_size> buf{};
    tether::detail::encode_header(in, buf);
    EXPECT_EQ(std::to_integer<int>(buf[0]), 0x54);
    EXPECT_EQ(std::to_integer<int>(buf[8]), 70000 & 0xff);  // little-endian length
    ASSERT_FALSE(tether::detail::decode_header(buf, frame_limits{}, out));
    EXPECT_EQ(out.kind, in.kind);
    EXPECT_EQ(out.handle_count, 3);
    EXPECT_EQ(out.payload_length, 70000u);
}

// Feeds `stream` to a reader in chunks of `chunk` bytes; collects frames until an error.
std::vector<frame> feed(frame_reader& r, const std::vector<std::byte>& stream, std::size_t chunk, std::error_code& ec) {
    std::vector<frame> got;
    std::size_t at = 0;
    for (;;) {
        frame f;
        auto st = r.next(f, ec);
        if (st == frame_reader::status::frame) {
            got.push_back(std::move(f));
            continue;
        }
        if (st == frame_reader::status::error) return got;
        if (at == stream.size()) {
            ec = r.at_eof();
            return got;
        }
        auto space = r.space();
        std::size_t n = std::min({chunk, space.size(), stream.size() - at});
        std::memcpy(space.data(), stream.data() + at, n);
        r.commit(n);
        at += n;
    }
}

TEST(FrameReader, ManyFramesInAnySplitDecodeIdentically) {
    std::vector<std::byte> stream;
    for (auto part : {data_frame("one"), data_frame(""), data_frame("three", 2), data_frame(std::string(9000, 'x'))})
        stream.insert(stream.end(), part.begin(), part.end());
    for (std::size_t chunk : {1u, 2u, 7u, 12u, 13u, 4096u, 100000u}) {
        frame_reader r(frame_limits{}, 4096);
        std::error_code ec;
        auto frames = feed(r, stream, chunk, ec);
        ASSERT_FALSE(ec) << "chunk " << chunk << ": " << ec.message();
        ASSERT_EQ(frames.size(), 4u) << "chunk " << chunk;
        EXPECT_EQ(frames[0].payload.size(), 3u);
        EXPECT_EQ(frames[1].payload.size(), 0u);
        EXPECT_EQ(frames[2].wire_handles.size(), 2u);
        EXPECT_EQ(frames[3].payload.size(), 9000u);
        EXPECT_EQ(std::to_integer<char>(frames[3].payload[8999]), 'x');
    }
}

TEST(FrameReader, ReadsThatFillTheBufferGrowItToTheMaximum) {
    // A busy channel of small frames: every read fills all the space offered, and a partial
    // frame is always left at the end. The buffer must grow to its maximum (64 KiB) instead of
    // staying at its first 4 KiB, a read per 4 KiB.
    std::vector<std::byte> stream;
    while (stream.size() < (std::size_t{1} << 20)) {
        auto f = data_frame(std::string(64, 'm'));
        stream.insert(stream.end(), f.begin(), f.end());
    }
    frame_reader r(frame_limits{}, 64 * 1024);
    std::size_t at = 0;
    std::size_t largest = 0;
    std::size_t frames = 0;
    while (at < stream.size()) {
        auto space = r.space();
        ASSERT_FALSE(space.empty());
        largest = std::max(largest, space.size());
        std::size_t n = std::min(space.size(), stream.size() - at);
        std::memcpy(space.data(), stream.data() + at, n);
        r.commit(n);
        at += n;
        frame f;
        std::error_code ec;
        while (r.next(f, ec) == frame_reader::status::frame) ++frames;
        ASSERT_FALSE(ec) << ec.message();
    }
    EXPECT_EQ(frames, stream.size() / (frame_header_size + 64));
    EXPECT_GT(largest, std::size_t{60} * 1024) << "the buffer did not grow: " << largest << " bytes at most";
    EXPECT_LE(r.footprint(), std::size_t{64} * 1024 + 4096);
}

TEST(FrameReader, TruncatedFrameAtEndOfFileIsAProtocolError) {
    auto whole = data_frame("hello");
    for (std::size_t cut = 1; cut < whole.size(); ++cut) {
        frame_reader r;
        std::error_code ec;
        auto frames = feed(r, std::vector<std::byte>(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut)), 64, ec);
        EXPECT_TRUE(frames.empty());
        EXPECT_EQ(ec, tether::errc::protocol_error) << "cut at " << cut;
    }
    frame_reader r;
    std::error_code ec;
    EXPECT_EQ(feed(r, whole, 64, ec).size(), 1u);
    EXPECT_FALSE(ec) << "a stream that ends between frames is clean";
}

// The error comes from the 12 header bytes alone, before the payload is allocated (that no
// allocation follows an unvalidated length is checked by fuzz/frame_fuzz.cpp run with
// -malloc_limit_mb=1).
TEST(FrameReader, OversizedLengthFailsAtTheHeaderAndStaysFailed) {
    frame_reader r(frame_limits{100, 64});
    std::error_code ec;
    auto frames = feed(r, data_frame(std::string(101, 'y')), 4096, ec);
    EXPECT_TRUE(frames.empty());
    EXPECT_EQ(ec, tether::errc::message_too_large);
    frame f;
    EXPECT_EQ(r.next(f, ec), frame_reader::status::error);  // sticky
    EXPECT_EQ(ec, tether::errc::message_too_large);
    EXPECT_TRUE(r.space().empty());
}

TEST(FrameReader, GarbageAfterAGoodFrameIsAProtocolError) {
    auto stream = data_frame("ok");
    auto junk = bytes({0x54, 0x54, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0});
    stream.insert(stream.end(), junk.begin(), junk.end());
    frame_reader r;
    std::error_code ec;
    auto frames = feed(r, stream, 5, ec);
    EXPECT_EQ(frames.size(), 1u);
    EXPECT_EQ(ec, tether::errc::protocol_error);
}

}  // namespace

TEST(ChannelEngine, HandleTablesArePlaceholdersUntilPushed) {
    // Windows gives a handle to the peer only right before the write that carries its frame:
    // the queued frame's handle table holds placeholders until then, and a queue dropped before
    // that reports no wire values to take back.
    tether::detail::channel_engine eng(1024, 8);
    eng.queue_data(std::as_bytes(std::span("ab", 2)));
    std::vector<tether::unique_handle> oob(1);
    const std::uint64_t placeholder[] = {0};
    eng.queue_frame(frame_kind::data, placeholder, {}, oob);
    std::span<const tether::unique_handle> handles;
    std::span<std::uint64_t> wire;
    ASSERT_TRUE(eng.next_push(handles, wire));
    ASSERT_EQ(wire.size(), 1u);
    {
        std::vector<std::uint64_t> dropped_wire;
        tether::detail::channel_engine copy(1024, 8);
        std::vector<tether::unique_handle> one(1);
        copy.queue_frame(frame_kind::data, placeholder, {}, one);
        (void)copy.discard_output(dropped_wire);
        EXPECT_TRUE(dropped_wire.empty()) << "nothing was pushed, so nothing is taken back";
    }
    wire[0] = 0x0102030405060708ull;
    eng.pushed();
    EXPECT_FALSE(eng.next_push(handles, wire)) << "pushed once";
    auto out = eng.next_output();
    const std::size_t table = 12 + 2 + frame_header_size;  // the plain frame, then this header
    ASSERT_GE(out.size(), table + 8);
    for (std::size_t k = 0; k < 8; ++k)
        EXPECT_EQ(std::to_integer<unsigned>(out[table + k]), 8 - k) << "byte " << k << " of the wire value";
    std::vector<std::uint64_t> dropped_wire;
    (void)eng.discard_output(dropped_wire);
    EXPECT_EQ(dropped_wire, std::vector<std::uint64_t>{0x0102030405060708ull});
}
