// Reads tied to a child (tether/tied.hpp): end-of-file that never comes because a grandchild
// keeps the pipe ends the read once the child has exited and the grace has passed, with
// errc::held_open naming the holder; a pipe that closes normally reads to its end as before.
#include "support/harness.hpp"
#include "support/lifetime_support.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <array>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using tether_test::contains;

// tied_leave_holder: starts life_block (lifetime_test.cpp), which inherits our stdout, prints
// its id, and exits: the grandchild keeps the pipe's write end.
TETHER_CHILD_ROLE(tied_leave_holder) {
    auto opt = tether_test::role_options("life_block");
    opt.in = tether::stdio::null();
    auto gc = tether::spawn(std::move(opt));
    std::cout << gc.pid() << "\n" << std::flush;
    gc.detach();
    return 0;
}

// tied_say TEXT: writes TEXT to stdout and exits.
TETHER_CHILD_ROLE(tied_say) {
    std::cout << args.at(0) << std::flush;
    return 0;
}

// tied_write_forever: writes to stdout until the reader is gone.
TETHER_CHILD_ROLE(tied_write_forever) {
    std::string block(4096, 'x');
    while (std::cout.write(block.data(), static_cast<std::streamsize>(block.size())).flush()) {
    }
    return 0;
}

// tied_leave_writer: starts tied_write_forever, which inherits our stdout, and exits at once:
// the grandchild holds the pipe and keeps writing into it.
TETHER_CHILD_ROLE(tied_leave_writer) {
    auto opt = tether_test::role_options("tied_write_forever");
    opt.in = tether::stdio::null();
    auto gc = tether::spawn(std::move(opt));
    gc.detach();
    return 0;
}

// tied_say_and_wait TEXT: writes TEXT, then waits for a line on stdin (or its end) and exits.
TETHER_CHILD_ROLE(tied_say_and_wait) {
    std::cout << args.at(0) << std::flush;
    std::string line;
    std::getline(std::cin, line);
    return 0;
}

namespace {

tether::child start(const std::string& role, const std::vector<std::string>& args = {}) {
    auto opt = tether_test::role_options(role, args);
    opt.out = tether::stdio::pipe();
    return tether::spawn(std::move(opt));
}

}  // namespace

TEST(TiedRead, AGrandchildKeepingThePipeEndsTheReadWithHeldOpenNamingIt) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    std::error_code ec;
    std::string who;
    auto text = tether::read_to_end(out, c, 300ms, ec, who);
    auto gc = std::stoll(text);
    EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
    ASSERT_TRUE(c.status().has_value()) << "the child was not waited for";
    EXPECT_TRUE(c.status()->success()) << c.status()->describe();
    EXPECT_TRUE(contains(who, "PID " + std::to_string(gc))) << who;
    EXPECT_TRUE(tether_test::running_now(gc)) << "the read is to report the holder, not to end it";
    tether_test::end_if_running(gc);
}

TEST(TiedRead, APipeThatClosesReadsToItsEnd) {
    auto c = start("tied_say", {"hello"});
    auto out = c.take_stdout();
    std::error_code ec;
    std::string who;
    EXPECT_EQ(tether::read_to_end(out, c, 10s, ec, who), "hello");
    EXPECT_FALSE(ec) << ec.message() << ": " << who;
    EXPECT_TRUE(who.empty()) << who;
}

TEST(TiedRead, TheThrowingOverloadSaysHeldOpenAndWho) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    std::int64_t gc = -1;
    try {
        (void)tether::read_to_end(out, c, 100ms);
        ADD_FAILURE() << "expected errc::held_open";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::held_open);
        EXPECT_TRUE(contains(e.what(), "still held open by PID")) << e.what();
        auto what = std::string(e.what());
        auto at = what.find("by PID ");
        if (at != std::string::npos) gc = std::stoll(what.substr(at + 7));
    }
    if (gc > 0) tether_test::end_if_running(gc);
}

TEST(TiedRead, BadArgumentsAreNamed) {
    tether::child empty;
    auto [r, w] = tether::make_pipe();
    std::error_code ec;
    std::string who;
    (void)tether::read_to_end(r, empty, 100ms, ec, who);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
    EXPECT_TRUE(contains(who, "empty")) << who;
    auto c = start("tied_say", {"x"});
    (void)tether::read_to_end(r, c, -1ms, ec, who);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
    EXPECT_TRUE(contains(who, "-1 ms")) << who;
    c.wait();
}

TEST(TiedRead, AHolderThatKeepsWritingCannotKeepTheReadGoing) {
    auto c = start("tied_leave_writer");
    auto out = c.take_stdout();
    std::error_code ec;
    std::string who;
    auto text = tether::read_to_end(out, c, 100ms, ec, who);
    EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
    EXPECT_FALSE(text.empty()) << "what the holder wrote before the verdict is returned";
    EXPECT_TRUE(contains(who, "held open by PID")) << who;
    // Closing our end ends the writer (a broken pipe).
}

TEST(TiedRead, ReadToEndForKeepsItsTimeoutWhileTheChildRuns) {
    auto opt = tether_test::role_options("tied_say_and_wait", {"so far"});
    opt.in = tether::stdio::pipe();
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    std::error_code ec;
    std::string who;
    auto text = tether::read_to_end_for(out, c, 200ms, 10s, ec, who);
    EXPECT_EQ(ec, tether::errc::timed_out) << ec.message() << ": " << who;
    EXPECT_EQ(text, "so far");
    EXPECT_FALSE(c.status().has_value()) << "a running child is not waited for";
    c.take_stdin().reset();  // its getline ends
    text = tether::read_to_end_for(out, c, 10s, 10s, ec, who);
    EXPECT_FALSE(ec) << ec.message() << ": " << who;
    EXPECT_EQ(text, "");
    EXPECT_TRUE(c.wait().success()) << "end-of-file does not wait for the exit, which may come a moment later";
}

TEST(TiedRead, ReadToEndForSaysHeldOpenAndWho) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    std::error_code ec;
    std::string who;
    auto text = tether::read_to_end_for(out, c, 20s, 100ms, ec, who);
    auto gc = std::stoll(text);
    EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
    EXPECT_TRUE(contains(who, "PID " + std::to_string(gc))) << who;
    tether_test::end_if_running(gc);
}

TEST(TiedRead, AGraceOverBeforeTheReadDoesNotCallAClosedPipeHeld) {
    // The child wrote and exited, and nobody read while the grace (zero) passed: every copy of
    // the write end is closed, so the rest is read to end-of-file, not called held open.
    auto c = start("tied_say", {"late but whole"});
    auto out = c.take_stdout();
    c.wait();
    std::error_code ec;
    std::string who;
    EXPECT_EQ(tether::read_to_end(out, c, 0ms, ec, who), "late but whole");
    EXPECT_FALSE(ec) << ec.message() << ": " << who;
}

TEST(TiedForward, MovesEverythingWhenThePipeCloses) {
    auto c = start("tied_say", {"forwarded"});
    auto out = c.take_stdout();
    auto [r, w] = tether::make_pipe();
    EXPECT_EQ(tether::forward(out, w, c), 9u);
    w.reset();
    EXPECT_EQ(tether::read_to_end(r), "forwarded");
}

TEST(TiedForward, AGrandchildKeepingThePipeEndsItWithHeldOpen) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    auto [r, w] = tether::make_pipe();
    std::error_code ec;
    std::string who;
    auto moved = tether::forward(out, w, c, 100ms, ec, who);
    EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
    w.reset();
    auto text = tether::read_to_end(r);
    EXPECT_EQ(moved, text.size());
    auto gc = std::stoll(text);
    EXPECT_TRUE(contains(who, "PID " + std::to_string(gc))) << who;
    tether_test::end_if_running(gc);
}

TEST(TiedForward, AGoneReaderIsPeerGone) {
    auto c = start("tied_say", {"nobody reads this"});
    auto out = c.take_stdout();
    auto [r, w] = tether::make_pipe();
    r.reset();
    std::error_code ec;
    std::string who;
    (void)tether::forward(out, w, c, 10s, ec, who);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message();
    c.wait();
}

TEST(TiedChunkReader, ReadsToEndOfFile) {
    auto c = start("tied_say", {"chunks"});
    auto out = c.take_stdout();
    tether::tied_chunk_reader reader(out, c);
    std::string text;
    for (auto chunk = reader.next(); !chunk.empty(); chunk = reader.next())
        text.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    EXPECT_EQ(text, "chunks");
    EXPECT_TRUE(reader.held_by().empty()) << reader.held_by();
    EXPECT_GE(reader.buffer_size(), 4096u);
}

TEST(TiedChunkReader, EndsWithHeldOpenNamingTheHolder) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    tether::tied_chunk_reader reader(out, c, 100ms);
    std::string text;
    std::error_code ec;
    for (auto chunk = reader.next(ec); !chunk.empty(); chunk = reader.next(ec))
        text.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    auto gc = std::stoll(text);
    EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
    EXPECT_TRUE(contains(reader.held_by(), "PID " + std::to_string(gc))) << reader.held_by();
    EXPECT_THROW((void)reader.next(), std::system_error) << "the verdict stays";
    tether_test::end_if_running(gc);
}

TEST(TiedChunkReader, BadArgumentsAreNamed) {
    tether::child empty;
    auto [r, w] = tether::make_pipe();
    try {
        tether::tied_chunk_reader reader(r, empty);
        ADD_FAILURE() << "an empty child was accepted";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument);
        EXPECT_TRUE(contains(e.what(), "empty")) << e.what();
    }
    auto c = start("tied_say", {"x"});
    try {
        tether::tied_chunk_reader reader(r, c, -5ms);
        ADD_FAILURE() << "a negative grace was accepted";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument);
        EXPECT_TRUE(contains(e.what(), "-5 ms")) << e.what();
    }
    c.wait();
}

// ---- a poller's pipe end tied to its child

namespace {

using seen_list = std::vector<std::pair<tether::poll_event::kind, std::uint64_t>>;

void note(seen_list& seen, const std::vector<tether::poll_event>& events) {
    for (const auto& e : events) seen.emplace_back(e.what, e.token);
}

// Waits (up to 20 s) until an event of `kind` for `token` arrives, reading any readable pipe
// end in `reads` (token -> end) on the way and appending to `text`.
std::optional<tether::poll_event> wait_for(tether::poller& p, tether::poll_event::kind kind, std::uint64_t token,
                                           tether::borrowed_handle read_end, std::uint64_t read_token,
                                           std::string& text, seen_list* seen = nullptr) {
    std::vector<tether::poll_event> events;
    auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
        p.wait(events, 1s);
        for (auto& e : events) {
            if (seen != nullptr) seen->emplace_back(e.what, e.token);
            if (e.what == tether::poll_event::kind::readable && e.token == read_token) {
                std::array<std::byte, 4096> buf;
                std::error_code ec;
                auto n = tether::try_read(read_end, buf, ec);
                text.append(reinterpret_cast<const char*>(buf.data()), n);
            }
            if (e.what == kind && e.token == token) return std::move(e);
        }
    }
    return std::nullopt;
}

}  // namespace

TEST(PollerTie, AGrandchildKeepingThePipeIsReportedHeldOpen) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    tether::poller p;
    p.add(out, tether::interest::read, 1, c, 100ms);
    std::string text;
    auto e = wait_for(p, tether::poll_event::kind::held_open, 1, out, 1, text);
    ASSERT_TRUE(e.has_value()) << "no held_open event";
    auto gc = std::stoll(text);
    EXPECT_TRUE(contains(e->held_by, "PID " + std::to_string(gc))) << e->held_by;
    EXPECT_TRUE(contains(e->describe(), "held open")) << e->describe();
    ASSERT_TRUE(c.status().has_value()) << "the producer was not reaped";
    EXPECT_TRUE(p.contains(1)) << "the end stays registered";
    tether_test::end_if_running(gc);
}

TEST(PollerTie, TheProducersOwnSourceStillReportsItsExit) {
    auto c = start("tied_leave_holder");
    auto out = c.take_stdout();
    tether::poller p;
    p.add(c, 2);
    p.add(out, tether::interest::read, 1, c, 100ms);
    std::string text;
    seen_list seen;
    auto e = wait_for(p, tether::poll_event::kind::held_open, 1, out, 1, text, &seen);
    ASSERT_TRUE(e.has_value()) << "no held_open event";
    bool exited = false;
    for (auto [what, token] : seen) exited = exited || (what == tether::poll_event::kind::exited && token == 2);
    EXPECT_TRUE(exited) << "the child source did not report the exit";
    tether_test::end_if_running(std::stoll(text));
}

TEST(PollerTie, APipeThatHangsUpIsNeverReportedHeldOpen) {
    auto c = start("tied_say", {"bye"});
    auto out = c.take_stdout();
    tether::poller p;
    p.add(out, tether::interest::read, 1, c, 0ms);
    std::string text;
    seen_list seen;
    ASSERT_TRUE(wait_for(p, tether::poll_event::kind::hung_up, 1, out, 1, text, &seen).has_value());
    // The producer's exit is reaped by the tie's own watch: wait for that, then for the grace.
    std::vector<tether::poll_event> more;
    for (int i = 0; i < 5; ++i) {
        p.wait(more, 50ms);
        note(seen, more);
    }
    for (auto [what, token] : seen) EXPECT_NE(what, tether::poll_event::kind::held_open) << "token " << token;
    c.wait();
    EXPECT_EQ(text, "bye");
}

TEST(PollerTie, UnreadDataAfterTheLastWriterClosedIsNotHeldOpen) {
    // The producer exits with its output unread; the grace (zero) passes before anyone reads.
    // Where the system reports the hang-up only once the data is read (Windows), the tie asks
    // the pipe itself whether its other end is still open.
    auto c = start("tied_say", {"unread"});
    auto out = c.take_stdout();
    tether::poller p;
    p.add(c, 2);
    p.add(out, tether::interest::read, 1, c, 0ms);
    std::vector<tether::poll_event> events;
    seen_list seen;
    bool exited = false;
    auto until = std::chrono::steady_clock::now() + 20s;
    while (!exited && std::chrono::steady_clock::now() < until) {
        p.wait(events, 1s);
        note(seen, events);
        for (auto& e : events) exited = exited || e.what == tether::poll_event::kind::exited;
    }
    ASSERT_TRUE(exited);
    for (int i = 0; i < 3; ++i) {  // the zero grace is checked on the next waits
        p.wait(events, 20ms);
        note(seen, events);
    }
    for (auto [what, token] : seen) EXPECT_NE(what, tether::poll_event::kind::held_open) << "token " << token;
    EXPECT_EQ(tether::read_to_end(out), "unread");
}

TEST(PollerTie, BadArgumentsAreNamedAndRegisterNothing) {
    tether::child empty;
    auto [r, w] = tether::make_pipe();
    tether::poller p;
    try {
        p.add(r, tether::interest::read, 7, empty);
        ADD_FAILURE() << "an empty producer was accepted";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument);
        EXPECT_TRUE(contains(e.what(), "empty")) << e.what();
    }
    EXPECT_FALSE(p.contains(7));
    auto c = start("tied_say", {"x"});
    EXPECT_THROW(p.add(r, tether::interest::read, 7, c, -1ms), std::system_error);
    EXPECT_FALSE(p.contains(7));
    c.wait();
}
