// Shared behaviour (both platforms, public API only): unique_handle / borrowed_handle, pipes,
// the .NET-shaped server/client pair, blocking and timed I/O, end-of-file and peer_gone.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <limits>

#include <cstddef>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

using tether_test::contains;
using tether_test::is_open;
using tether_test::output_of;

namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string read_some(tether::borrowed_handle h, std::size_t max = 256) {
    std::vector<std::byte> buf(max);
    auto n = tether::read(h, buf);
    return {reinterpret_cast<const char*>(buf.data()), n};
}

}  // namespace

// ---- unique_handle / borrowed_handle

TEST(UniqueHandle, DefaultIsInvalid) {
    tether::unique_handle h;
    EXPECT_FALSE(h);
    EXPECT_EQ(h.get(), tether::invalid_native_handle());
    tether::borrowed_handle b;
    EXPECT_FALSE(b);
}

TEST(UniqueHandle, MoveTransfersOwnership) {
    auto [r, w] = tether::make_pipe();
    auto value = r.get();
    tether::unique_handle moved(std::move(r));
    EXPECT_FALSE(r);  // NOLINT(bugprone-use-after-move): checking the moved-from state is the point
    EXPECT_EQ(moved.get(), value);
    tether::unique_handle assigned;
    assigned = std::move(moved);
    EXPECT_FALSE(moved);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(assigned.get(), value);
    EXPECT_TRUE(is_open(value));
}

TEST(UniqueHandle, MoveAssignClosesThePreviousHandle) {
    auto a = tether::make_pipe();
    auto b = tether::make_pipe();
    auto old = a.read.get();
    a.read = std::move(b.read);
    EXPECT_FALSE(is_open(old));
    EXPECT_TRUE(is_open(a.read.get()));
}

TEST(UniqueHandle, ReleaseGivesUpOwnershipWithoutClosing) {
    auto [r, w] = tether::make_pipe();
    auto value = r.get();
    auto raw = r.release();
    EXPECT_EQ(raw, value);
    EXPECT_FALSE(r);
    EXPECT_TRUE(is_open(raw));
    tether::unique_handle again(raw);  // take it back so it is closed
    again.reset();
    EXPECT_FALSE(again);
    EXPECT_FALSE(is_open(raw));
}

TEST(UniqueHandle, ResetClosesAndTakesTheNewValue) {
    auto a = tether::make_pipe();
    auto b = tether::make_pipe();
    auto old = a.read.get();
    auto next = b.read.release();
    a.read.reset(next);
    EXPECT_FALSE(is_open(old));
    EXPECT_EQ(a.read.get(), next);
    EXPECT_TRUE(is_open(next));
}

TEST(UniqueHandle, ResetToTheOwnedValueKeepsItOpen) {
    auto [r, w] = tether::make_pipe();
    auto value = r.get();
    r.reset(value);
    EXPECT_TRUE(is_open(value));
    EXPECT_EQ(r.get(), value);
}

TEST(UniqueHandle, DuplicateIsAnIndependentNonInheritableOwnerOfTheSameObject) {
    auto [r, w] = tether::make_pipe();
    auto w2 = w.duplicate();
    ASSERT_TRUE(w2);
    EXPECT_NE(w2.get(), w.get());
    EXPECT_FALSE(tether::is_inheritable(w2));
    w.reset();  // the duplicate keeps the object alive
    tether::write_all(w2, std::string_view("via dup"));
    EXPECT_EQ(read_some(r), "via dup");
}

TEST(UniqueHandle, DuplicateOfAnInvalidHandleFails) {
    tether::unique_handle none;
    EXPECT_THROW((void)none.duplicate(), std::system_error);
    std::error_code ec = tether::errc::closed;
    auto d = none.duplicate(ec);
    EXPECT_TRUE(ec);
    EXPECT_NE(ec, tether::make_error_code(tether::errc::closed));
    EXPECT_FALSE(d);
    auto [r, w] = tether::make_pipe();
    auto ok = r.duplicate(ec);
    EXPECT_FALSE(ec) << "a successful duplicate clears the code";
    EXPECT_TRUE(ok);
}

TEST(BorrowedHandle, ViewsWithoutOwning) {
    auto [r, w] = tether::make_pipe();
    tether::borrowed_handle b = r;
    EXPECT_EQ(b.get(), r.get());
    EXPECT_TRUE(b);
    { tether::borrowed_handle copy = b; (void)copy; }
    EXPECT_TRUE(is_open(r.get()));
    EXPECT_EQ(r.borrow().get(), r.get());
}

TEST(HandleString, IsTheDecimalValue) {
    auto [r, w] = tether::make_pipe();
    auto s = tether::to_handle_string(r);
    ASSERT_FALSE(s.empty());
    for (char c : s) EXPECT_TRUE(c >= '0' && c <= '9') << s;
}

TEST(IsInheritable, ThrowsForAClosedHandle) {
    auto [r, w] = tether::make_pipe();
    auto value = r.get();
    r.reset();
    try {
        (void)tether::is_inheritable(tether::borrowed_handle(value));
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find(tether::to_handle_string(tether::borrowed_handle(value))), std::string::npos) << e.what();
    }
}

// ---- pipes

TEST(Pipe, BothEndsAreNonInheritable) {
    auto [r, w] = tether::make_pipe();
    EXPECT_FALSE(tether::is_inheritable(r));
    EXPECT_FALSE(tether::is_inheritable(w));
    for (auto d : {tether::direction::in, tether::direction::out}) {
        auto [ours, theirs] = tether::make_pipe(d);
        EXPECT_FALSE(tether::is_inheritable(ours));
        EXPECT_FALSE(tether::is_inheritable(theirs));
    }
}

TEST(Pipe, DirectionInMeansWeRead) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    tether::write_all(theirs, std::string_view("to us"));
    EXPECT_EQ(read_some(ours), "to us");
}

TEST(Pipe, DirectionOutMeansWeWrite) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::out);
    tether::write_all(ours, std::string_view("to them"));
    EXPECT_EQ(read_some(theirs), "to them");
}

TEST(Pipe, ReadReturnsZeroAtEndOfFileAfterTheWriterCloses) {
    auto [r, w] = tether::make_pipe();
    tether::write_all(w, std::string_view("last"));
    w.reset();
    EXPECT_EQ(read_some(r), "last");
    std::byte b[4];
    EXPECT_EQ(tether::read(r, b), 0u);
    EXPECT_EQ(tether::read(r, b), 0u) << "end-of-file is sticky";
    std::error_code ec = tether::errc::closed;
    EXPECT_EQ(tether::read_for(r, b, 1s, ec), 0u);
    EXPECT_FALSE(ec) << "end-of-file is not an error: " << ec.message();
}

TEST(Pipe, ReadToEndCollectsEverything) {
    auto [r, w] = tether::make_pipe();
    std::string data(4000, 'x');  // fits any pipe buffer, so one thread can write then read
    data += "end";
    tether::write_all(w, data);
    w.reset();
    EXPECT_EQ(tether::read_to_end(r), data);
}

TEST(Pipe, ReadForTimesOutWithNothingConsumed) {
    auto [r, w] = tether::make_pipe();
    std::byte b[8];
    std::error_code ec;
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(tether::read_for(r, b, 50ms, ec), 0u);
    EXPECT_EQ(ec, tether::errc::timed_out);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
    EXPECT_THROW((void)tether::read_for(r, b, 0ms), std::system_error);
    tether::write_all(w, std::string_view("late"));
    EXPECT_EQ(tether::read_for(r, b, 1s, ec), 4u);
    EXPECT_FALSE(ec) << "a successful read clears the code";
}

TEST(Pipe, ReadForWithAnEndlessTimeoutDoesNotOverflow) {
    auto [r, w] = tether::make_pipe();
    tether::write_all(w, std::string_view("x"));
    std::byte b[1];
    std::error_code ec;
    EXPECT_EQ(tether::read_for(r, b, tether::milliseconds::max(), ec), 1u);
    EXPECT_FALSE(ec) << ec.message();
}

TEST(Pipe, WriteAllForTimesOutOnAFullPipeAndReportsProgress) {
    auto [r, w] = tether::make_pipe();
    std::vector<std::byte> data(8 * 1024 * 1024, std::byte{'z'});  // far more than any pipe holds
    std::error_code ec;
    auto n = tether::write_all_for(w, data, 100ms, ec);
    EXPECT_EQ(ec, tether::errc::timed_out);
    EXPECT_GT(n, 0u);
    EXPECT_LT(n, data.size());
}

TEST(Pipe, ReadToEndForTimesOutWhileAWriterRemains) {
    auto [r, w] = tether::make_pipe();
    tether::write_all(w, std::string_view("partial"));
    std::error_code ec;
    auto text = tether::read_to_end_for(r, 50ms, ec);
    EXPECT_EQ(ec, tether::errc::timed_out);
    EXPECT_EQ(text, "partial");
    w.reset();
    text = tether::read_to_end_for(r, 1s, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(text, "");
}

TEST(Pipe, WriteWhenTheReaderIsGoneIsPeerGone) {
    auto [r, w] = tether::make_pipe();
    r.reset();
    std::error_code ec;
    EXPECT_EQ(tether::write_all(w, bytes("nobody"), ec), 0u);
    EXPECT_EQ(ec, tether::errc::peer_gone);
    try {
        tether::write_all(w, std::string_view("nobody"));
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::peer_gone);
    }
    ec.clear();
    (void)tether::write_all_for(w, bytes("nobody"), 1s, ec);
    EXPECT_EQ(ec, tether::errc::peer_gone);
}

TEST(Pipe, ZeroByteIoIsANoOp) {
    auto [r, w] = tether::make_pipe();
    std::error_code ec = tether::errc::closed;
    EXPECT_EQ(tether::write_all(w, std::span<const std::byte>{}, ec), 0u);
    EXPECT_FALSE(ec);
    ec = tether::errc::closed;
    EXPECT_EQ(tether::read(r, std::span<std::byte>{}, ec), 0u);
    EXPECT_FALSE(ec);
}

TEST(Pipe, IoOnAClosedHandleFillsTheCode) {
    auto [r, w] = tether::make_pipe();
    auto rv = r.get(), wv = w.get();
    r.reset();
    w.reset();
    std::byte b[4];
    std::error_code ec;
    EXPECT_EQ(tether::read(tether::borrowed_handle(rv), b, ec), 0u);
    EXPECT_TRUE(ec);
    ec.clear();
    (void)tether::read_for(tether::borrowed_handle(rv), b, 10ms, ec);
    EXPECT_TRUE(ec);
    EXPECT_NE(ec, tether::errc::timed_out);
    ec.clear();
    (void)tether::write_all(tether::borrowed_handle(wv), bytes("x"), ec);
    EXPECT_TRUE(ec);
    ec.clear();
    (void)tether::write_all_for(tether::borrowed_handle(wv), bytes("x"), 10ms, ec);
    EXPECT_TRUE(ec);
    EXPECT_THROW((void)tether::read(tether::borrowed_handle(rv), b), std::system_error);
    EXPECT_THROW(tether::write_all(tether::borrowed_handle(wv), bytes("x")), std::system_error);
}

// Reading a write end (or writing a read end) is a mistake the message names, on every read
// path, instead of a bare "Bad file descriptor" (or, where a wait comes first, a timeout).
TEST(Pipe, ReadingTheWriteEndIsWrongDirectionByName) {
    auto [r, w] = tether::make_pipe();
    std::byte b[4];
    std::error_code ec;
    EXPECT_EQ(tether::read(w, b, ec), 0u);
    EXPECT_EQ(ec, tether::errc::wrong_direction) << ec.message();
    ec.clear();
    (void)tether::read_for(w, b, 50ms, ec);
    EXPECT_EQ(ec, tether::errc::wrong_direction) << ec.message();
    ec.clear();
    (void)tether::read_to_end_for(w, 50ms, ec);
    EXPECT_EQ(ec, tether::errc::wrong_direction) << ec.message();
    try {
        (void)tether::read_to_end(w);
        FAIL() << "read_to_end on a write end succeeded";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::wrong_direction);
        EXPECT_NE(std::string(e.what()).find("a write end"), std::string::npos) << e.what();
    }
}

TEST(ChunkReader, ASizeNearTheTopIsRefusedNotWrapped) {
    auto [r, w] = tether::make_pipe();
    for (std::size_t size : {std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max() - 100,
                             (std::size_t{1} << 30) + 1}) {
        try {
            tether::chunk_reader reader(r, size);
            FAIL() << "chunk_reader took " << size << " bytes";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), tether::errc::invalid_argument);
            EXPECT_NE(std::string(e.what()).find(std::to_string(size)), std::string::npos) << e.what();
        }
    }
    tether::write_all(w, bytes("data"));
    w.reset();
    tether::chunk_reader reader(r, 100);
    EXPECT_EQ(reader.next().size(), 4u) << "a small size still reads";
}

// ---- the .NET shape

TEST(PipeServer, ClientHandleStringNamesTheClientEnd) {
    tether::pipe_server server(tether::direction::in);
    EXPECT_EQ(server.dir(), tether::direction::in);
    ASSERT_TRUE(server.client_handle());
    // A placeholder spawn() replaces with the child's value (tests/dotnet_shape_test.cpp).
    EXPECT_EQ(server.client_handle_string(), tether::handle_arg(server.client_handle()));
    EXPECT_FALSE(tether::is_inheritable(server.handle()));
    EXPECT_FALSE(tether::is_inheritable(server.client_handle()));
}

TEST(PipeServer, DisposeLocalCopyClosesTheClientEnd) {
    tether::pipe_server server(tether::direction::in);
    auto client = server.client_handle().get();
    server.dispose_local_copy_of_client_handle();
    EXPECT_FALSE(server.client_handle());
    EXPECT_FALSE(is_open(client));
    // With no writer left anywhere, the server sees end-of-file at once.
    std::byte b[1];
    EXPECT_EQ(server.read(b), 0u);
    server.dispose_local_copy_of_client_handle();  // idempotent
}

TEST(PipeServer, TakeClientHandleLeavesNoneBehind) {
    tether::pipe_server server(tether::direction::out);
    auto taken = server.take_client_handle();
    EXPECT_TRUE(taken);
    EXPECT_FALSE(server.client_handle());
    server.write(std::string_view("hi"));
    EXPECT_EQ(read_some(taken), "hi");
}

TEST(PipeServer, ClientOpensTheHandleStringInEitherDirection) {
    for (auto d : {tether::direction::in, tether::direction::out}) {
        tether::pipe_server server(d);
        // In-process "child": our own value (a real child gets client_handle_string() replaced).
        auto text = tether::to_handle_string(server.client_handle());
        (void)server.take_client_handle().release();  // the "child" owns it now
        auto client_dir = d == tether::direction::in ? tether::direction::out : tether::direction::in;
        tether::pipe_client client(client_dir, text);
        EXPECT_EQ(client.dir(), client_dir);
        EXPECT_EQ(tether::to_handle_string(client.handle()), text);
        if (d == tether::direction::in) {
            client.write(std::string_view("up"));
            client.close();
            EXPECT_EQ(server.read_to_end(), "up");
        } else {
            server.write(std::string_view("down"));
            server.close();
            EXPECT_EQ(client.read_to_end(), "down");
        }
    }
}

TEST(PipeClient, RejectsTextThatIsNotADescriptorNumberAndNamesIt) {
    for (std::string bad : {"abc", "", "-1", "3x", " 3", "3 ", "+3", "0x3", "99999999999", "99999999999999999999999"}) {
        try {
            tether::pipe_client c(tether::direction::in, bad);
            FAIL() << "accepted '" << bad << "'";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), tether::errc::invalid_handle_string) << bad;
            EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
        }
        tether::native_handle out = tether::invalid_native_handle();
        EXPECT_EQ(tether::check_pipe_handle_string(tether::direction::in, bad, out),
                  tether::errc::invalid_handle_string) << bad;
    }
}

TEST(PipeClient, RejectsAClosedHandle) {
    auto [r, w] = tether::make_pipe();
    auto text = tether::to_handle_string(r);
    r.reset();
    try {
        tether::pipe_client c(tether::direction::in, text);
        FAIL() << "accepted a closed handle";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_handle_string);
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("not open"), std::string::npos) << e.what();
    }
}

TEST(PipeClient, RejectsTheWrongEnd) {
    auto [r, w] = tether::make_pipe();
    auto wtext = tether::to_handle_string(w);
    try {
        tether::pipe_client c(tether::direction::in, wtext);
        FAIL() << "accepted the write end for direction::in";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::wrong_direction);
        EXPECT_NE(std::string(e.what()).find(wtext), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("write end"), std::string::npos) << e.what();
    }
    auto rtext = tether::to_handle_string(r);
    try {
        tether::pipe_client c(tether::direction::out, rtext);
        FAIL() << "accepted the read end for direction::out";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::wrong_direction);
        EXPECT_NE(std::string(e.what()).find("read end"), std::string::npos) << e.what();
    }
    // A rejected string was not taken over: both ends are still open and ours.
    EXPECT_TRUE(is_open(r.get()));
    EXPECT_TRUE(is_open(w.get()));
}

TEST(PipeClient, FromAHandleValidatesToo) {
    auto [r, w] = tether::make_pipe();
    EXPECT_THROW(tether::pipe_client(tether::direction::out, std::move(r)), std::system_error);
    tether::pipe_client ok(tether::direction::out, std::move(w));
    EXPECT_TRUE(ok.handle());
}

TEST(PipeServer, WriteToAGoneClientIsPeerGone) {
    tether::pipe_server server(tether::direction::out);
    server.dispose_local_copy_of_client_handle();
    try {
        server.write(std::string_view("anyone?"));
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::peer_gone);
    }
}

// ---- errors

TEST(Errors, CategoryAndMessages) {
    std::error_code ec = tether::errc::peer_gone;
    EXPECT_STREQ(ec.category().name(), "tether");
    for (int v = 1; v <= static_cast<int>(tether::errc::closed); ++v) {
        auto m = tether::tether_category().message(v);
        EXPECT_FALSE(m.empty());
        EXPECT_EQ(m.find("unknown"), std::string::npos) << v;
    }
    EXPECT_NE(tether::tether_category().message(999).find("999"), std::string::npos);
    try {
        tether::throw_error(tether::errc::timed_out, "reading X");
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::timed_out);
        EXPECT_NE(std::string(e.what()).find("reading X"), std::string::npos);
    }
}

// ---- every error_code overload clears the code on success (a stale error must not survive)

TEST(ErrorCodeOverloads, ClearTheCodeOnSuccess) {
    const std::error_code stale = tether::errc::closed;
    auto [r, w] = tether::make_pipe();
    std::error_code ec = stale;
    auto d = w.duplicate(ec);
    EXPECT_FALSE(ec);
    ec = stale;
    EXPECT_EQ(tether::write_all(w, bytes("abc"), ec), 3u);
    EXPECT_FALSE(ec);
    ec = stale;
    EXPECT_EQ(tether::write_all_for(w, bytes("def"), 1s, ec), 3u);
    EXPECT_FALSE(ec);
    std::byte buf[3];
    ec = stale;
    EXPECT_EQ(tether::read(r, buf, ec), 3u);
    EXPECT_FALSE(ec);
    ec = stale;
    EXPECT_EQ(tether::read_for(r, buf, 1s, ec), 3u);
    EXPECT_FALSE(ec);
    w.reset();
    d.reset();
    ec = stale;
    EXPECT_EQ(tether::read_to_end_for(r, 1s, ec), "");
    EXPECT_FALSE(ec);
    tether::native_handle out = tether::invalid_native_handle();
    auto p = tether::make_pipe();
    EXPECT_FALSE(tether::check_pipe_handle_string(tether::direction::in, tether::to_handle_string(p.read), out));
    EXPECT_EQ(out, p.read.get());
}

TEST(ErrorCodeOverloads, FillTheCodeOnFailure) {
    auto [r, w] = tether::make_pipe();
    std::error_code ec;
    std::byte buf[3];
    EXPECT_EQ(tether::read_for(r, buf, 1ms, ec), 0u);
    EXPECT_EQ(ec, tether::errc::timed_out);
    ec.clear();
    EXPECT_EQ(tether::read_to_end_for(r, 1ms, ec), "");
    EXPECT_EQ(ec, tether::errc::timed_out);
    tether::native_handle out = tether::invalid_native_handle();
    EXPECT_EQ(tether::check_pipe_handle_string(tether::direction::in, tether::to_handle_string(w), out),
              tether::errc::wrong_direction);
    EXPECT_EQ(out, tether::invalid_native_handle()) << "nothing is handed out on failure";
}

TEST(Pipe, LargeWritesCompleteWhileAReaderDrains) {
    // Far more than a pipe holds: write_all and write_all_for must loop over partial writes.
    std::string data(1 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
    for (bool timed : {false, true}) {
        auto ends = tether::make_pipe();  // not a structured binding: clang 14 cannot capture one
        auto& w = ends.write;
        std::string got;
        std::thread reader([&] { got = tether::read_to_end(ends.read); });
        if (timed) {
            std::error_code ec;
            EXPECT_EQ(tether::write_all_for(w, bytes(data), 20s, ec), data.size());
            EXPECT_FALSE(ec) << ec.message();
        } else {
            tether::write_all(w, data);
        }
        w.reset();
        reader.join();
        EXPECT_EQ(got.size(), data.size());
        EXPECT_TRUE(got == data);
    }
}
