// include/tether/asio.hpp with standalone Asio: child exits (code and SIGKILL, also through
// the polling fallback), stdout read to end-of-file through asio::readable_pipe, channel
// messages both ways (also frames already buffered before the receive), a killed peer as
// vanished, cancelled waits, and who owns which descriptor once either side is gone. Every
// run is bounded by io_context::run_for; no sleeps.
#include "support/harness.hpp"

#if TETHER_HAVE_ASIO

#include "support/posix_util.hpp"
#include "testing/test_hooks.hpp"

#include <tether/asio.hpp>
#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>

#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using tether_test::open_fds;
using tether_test::spawn_with_channel;

namespace {

struct exit_result {
    std::error_code ec;
    tether::exit_status status;
};
struct receive_result {
    std::error_code ec;
    tether::message msg;
};

// Runs `io` (bounded) until `done` holds; false if the time ran out first.
template <class Pred>
bool run_until(asio::io_context& io, Pred done, std::chrono::seconds limit = 30s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
        io.restart();
        io.run_one_for(1s);
    }
    return done();
}

std::optional<receive_result> receive_one(asio::io_context& io, tether::channel& ch) {
    std::optional<receive_result> r;
    tether::async_receive(io.get_executor(), ch, [&](std::error_code ec, tether::message m) {
        r = receive_result{ec, std::move(m)};
    });
    run_until(io, [&] { return r.has_value(); });
    return r;
}

tether::child spawn_waiting_for_stdin() {
    auto opt = tether_test::role_options("asio_wait_stdin");
    opt.in = tether::stdio::pipe();
    return tether::spawn(std::move(opt));
}

using tether_test::nonblocking;
bool socket_has_data(tether::borrowed_handle h) {
    pollfd p{h.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

}  // namespace

TETHER_CHILD_ROLE(asio_exit_with) { return std::stoi(args.at(0)); }
TETHER_CHILD_ROLE(asio_wait_stdin) { return static_cast<int>(tether::read_to_end(tether::borrowed_handle(0)).size()); }
TETHER_CHILD_ROLE(asio_print) {
    for (int i = 0; i < 1000; ++i) std::printf("line %d of the asio_print role\n", i);
    return 0;
}
// With "burst": first sends three messages in ONE write. Then echoes until goodbye or "bye".
TETHER_CHILD_ROLE(asio_echo) {
    auto ctl = tether::channel::inherited("control");
    if (!args.empty() && args[0] == "burst") {
        ctl.send_more("one");
        ctl.send_more("two");
        ctl.send_more("three");
        ctl.flush();
    }
    for (;;) {
        auto m = ctl.receive();
        if (!m.is_data() || m.text() == "bye") break;
        ctl.send("echo: " + std::string(m.text()));
    }
    ctl.close();
    return 0;
}

TEST(AsioInterop, AwaitsExitCodeAndSigkill) {
    asio::io_context io;
    auto seven = tether::spawn(tether_test::role_options("asio_exit_with", {"7"}));
    auto killed = spawn_waiting_for_stdin();
    std::optional<exit_result> a, b;
    tether::async_wait_exit(io.get_executor(), seven, [&](std::error_code ec, tether::exit_status st) { a = {ec, st}; });
    tether::async_wait_exit(io.get_executor(), killed, [&](std::error_code ec, tether::exit_status st) { b = {ec, st}; });
    EXPECT_FALSE(a || b) << "a handler is never called inside the initiating call";
    killed.kill();
    ASSERT_TRUE(run_until(io, [&] { return a && b; })) << "exits not reported within 30 s";
    EXPECT_FALSE(a->ec) << a->ec.message();
    EXPECT_EQ(a->status.describe(), "exited with code 7");
    EXPECT_FALSE(b->ec) << b->ec.message();
    EXPECT_EQ(b->status.describe(), "killed by signal 9 (SIGKILL)");
    EXPECT_EQ(seven.status(), a->status) << "the child was reaped by the wait";
}

TEST(AsioInterop, PollingFallbackWithoutPidfdSeesTheExit) {
    tether::detail::test_hooks::force_exit_polling(true);
    asio::io_context io;
    auto four = tether::spawn(tether_test::role_options("asio_exit_with", {"4"}));
    std::optional<exit_result> r;
    tether::async_wait_exit(io.get_executor(), four, [&](std::error_code ec, tether::exit_status st) { r = {ec, st}; });
    bool done = run_until(io, [&] { return r.has_value(); });
    tether::detail::test_hooks::force_exit_polling(false);
    ASSERT_TRUE(done);
    EXPECT_FALSE(r->ec) << r->ec.message();
    EXPECT_EQ(r->status.describe(), "exited with code 4");
}

TEST(AsioInterop, ReadsStdoutToEndOfFileThroughReadablePipe) {
    asio::io_context io;
    auto opt = tether_test::role_options("asio_print");
    opt.out = tether::stdio::pipe();
    auto kid = tether::spawn(std::move(opt));
    std::string text;
    std::optional<std::error_code> done;
    {
        auto out = tether::asio_pipe::readable(io.get_executor(), kid.take_stdout());
        asio::async_read(out, asio::dynamic_buffer(text), [&](std::error_code ec, std::size_t) { done = ec; });
        ASSERT_TRUE(run_until(io, [&] { return done.has_value(); }));
    }
    EXPECT_EQ(*done, asio::error::eof) << done->message();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1000);
    EXPECT_TRUE(tether_test::contains(text, "line 999 of the asio_print role\n"));
    EXPECT_TRUE(kid.wait().success());
}

TEST(AsioInterop, PipeOfTheWrongDirectionIsRefusedAndStaysWithTheCaller) {
    asio::io_context io;
    auto [r, w] = tether::make_pipe();
    int wfd = w.get();
    try {
        (void)tether::asio_pipe::readable(io.get_executor(), std::move(w));
        ADD_FAILURE() << "a write end was accepted as readable";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::wrong_direction) << e.what();
        EXPECT_TRUE(tether_test::contains(e.what(), "descriptor " + std::to_string(wfd))) << e.what();
    }
    EXPECT_EQ(w.get(), wfd) << "the caller still owns the refused end";
    EXPECT_FALSE(tether_test::fd_closed(wfd));
    auto in = tether::asio_pipe::writable(io.get_executor(), std::move(w));
    EXPECT_FALSE(w) << "ownership moved into Asio";
    EXPECT_EQ(in.native_handle(), wfd);
    asio::write(in, asio::buffer(std::string_view("ab")));
    in.close();  // Asio closes what it owns: the reader sees end-of-file
    EXPECT_EQ(tether::read_to_end(r), "ab");
}

TEST(AsioInterop, ChannelMessagesBothWaysIncludingAlreadyBuffered) {
    asio::io_context io;
    auto [ours, theirs] = tether::make_channel();
    auto kid = spawn_with_channel("asio_echo", std::move(theirs), {"burst"});
    // "one", "two", "three" came in one write: this receive reads all three frames, so two
    // whole messages wait in OUR buffer and the socket has nothing to report.
    EXPECT_EQ(ours.receive_for(30s).value().text(), "one");
    ASSERT_FALSE(socket_has_data(ours.native())) << "the test needs the frames buffered, not in the socket";
    for (auto want : {"two", "three"}) {
        auto r = receive_one(io, ours);
        ASSERT_TRUE(r) << "a buffered message was not delivered: " << want;
        EXPECT_FALSE(r->ec) << r->ec.message();
        EXPECT_EQ(r->msg.text(), want);
    }
    std::optional<std::error_code> sent;
    tether::async_send(io.get_executor(), ours, "hello", [&](std::error_code ec) { sent = ec; });
    auto echo = receive_one(io, ours);
    ASSERT_TRUE(echo && sent);
    EXPECT_FALSE(*sent) << sent->message();
    EXPECT_EQ(echo->msg.text(), "echo: hello");
    tether::async_send(io.get_executor(), ours, "bye", [&](std::error_code) {});
    auto bye = receive_one(io, ours);
    ASSERT_TRUE(bye);
    EXPECT_FALSE(bye->ec) << bye->ec.message();
    EXPECT_TRUE(bye->msg.is_goodbye()) << bye->msg.describe();
    EXPECT_TRUE(kid.wait().success());
}

TEST(AsioInterop, LargeSendIsWrittenAsThePeerDrains) {
    asio::io_context io;
    auto [ours, theirs] = tether::make_channel();
    auto kid = spawn_with_channel("asio_echo", std::move(theirs));
    std::string big(4u << 20, 'x');  // far more than a socket buffer: post() cannot write it at once
    std::optional<std::error_code> sent;
    tether::async_send(io.get_executor(), ours, big, [&](std::error_code ec) { sent = ec; });
    EXPECT_GT(ours.queued_bytes(), 0u) << "the test needs output left queued";
    auto echo = receive_one(io, ours);
    ASSERT_TRUE(echo);
    EXPECT_FALSE(echo->ec) << echo->ec.message();
    EXPECT_EQ(echo->msg.payload.size(), big.size() + 6);
    ASSERT_TRUE(run_until(io, [&] { return sent.has_value(); }));
    EXPECT_FALSE(*sent) << sent->message();
    EXPECT_EQ(ours.queued_bytes(), 0u);
    ours.close();
    EXPECT_TRUE(kid.wait().success());
}

TEST(AsioInterop, KilledPeerIsVanished) {
    asio::io_context io;
    auto [ours, theirs] = tether::make_channel();
    auto kid = spawn_with_channel("asio_echo", std::move(theirs));
    std::optional<receive_result> r;
    std::optional<exit_result> x;
    tether::async_receive(io.get_executor(), ours, [&](std::error_code ec, tether::message m) { r = receive_result{ec, std::move(m)}; });
    tether::async_wait_exit(io.get_executor(), kid, [&](std::error_code ec, tether::exit_status st) { x = {ec, st}; });
    io.poll();  // both operations are waiting now
    EXPECT_FALSE(r || x);
    kid.kill();
    ASSERT_TRUE(run_until(io, [&] { return r && x; }));
    EXPECT_FALSE(r->ec) << r->ec.message();
    EXPECT_TRUE(r->msg.is_vanished()) << r->msg.describe();
    EXPECT_EQ(x->status.describe(), "killed by signal 9 (SIGKILL)");
}

// Asio creates its reactor's own descriptors (epoll, eventfd, timerfd) on first use: made here,
// before a test counts descriptors, so that the count sees only what the operations own.
void warm_up(asio::io_context& io) {
    asio::posix::stream_descriptor d(io);
    asio::steady_timer t(io);
}

TEST(AsioInterop, CancelledWaitsTakeNothingAndLeaveTetherObjectsUsable) {
    asio::io_context io;
    warm_up(io);
    auto [ours, theirs] = tether::make_channel();
    auto kid = spawn_with_channel("asio_echo", std::move(theirs));
    auto before = open_fds();
    auto channel_fd = ours.native().get();
    auto process_fd = kid.process_handle().get();
    asio::cancellation_signal stop_exit, stop_receive;
    std::optional<receive_result> r;
    std::optional<exit_result> x;
    tether::async_receive(io.get_executor(), ours, asio::bind_cancellation_slot(stop_receive.slot(),
        [&](std::error_code ec, tether::message m) { r = receive_result{ec, std::move(m)}; }));
    tether::async_wait_exit(io.get_executor(), kid, asio::bind_cancellation_slot(stop_exit.slot(),
        [&](std::error_code ec, tether::exit_status st) { x = {ec, st}; }));
    io.poll();
    ASSERT_FALSE(r || x) << "nothing to report yet";
    stop_receive.emit(asio::cancellation_type::total);
    stop_exit.emit(asio::cancellation_type::terminal);
    ASSERT_TRUE(run_until(io, [&] { return r && x; }));
    EXPECT_EQ(r->ec, asio::error::operation_aborted) << r->ec.message();
    EXPECT_EQ(x->ec, asio::error::operation_aborted) << x->ec.message();
    EXPECT_EQ(open_fds(), before) << "the cancelled operations closed their own copies";
    // tether still owns its descriptors, in their modes: the pidfd is no shared dup that Asio
    // made non-blocking (which would make child::wait() fail with EAGAIN).
    EXPECT_EQ(ours.native().get(), channel_fd);
    EXPECT_EQ(kid.process_handle().get(), process_fd);
    EXPECT_FALSE(nonblocking(kid.process_handle())) << "tether's pidfd was switched to O_NONBLOCK";
    ours.send("still here");
    auto m = ours.receive_for(30s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text(), "echo: still here");
    ours.close();
    EXPECT_TRUE(kid.wait().success()) << "child::wait() blocks as before";
}

TEST(AsioInterop, DestroyedIoContextDropsOperationsAndClosesOnlyItsOwnCopies) {
    auto [ours, theirs] = tether::make_channel();
    auto kid = spawn_with_channel("asio_echo", std::move(theirs));
    auto before = open_fds();
    bool called = false;
    {
        asio::io_context io;
        warm_up(io);
        auto with_io = open_fds();  // the io_context's own (epoll, eventfd, timerfd)
        tether::async_receive(io.get_executor(), ours, [&](std::error_code, tether::message) { called = true; });
        tether::async_wait_exit(io.get_executor(), kid, [&](std::error_code, tether::exit_status) { called = true; });
        io.poll();
        EXPECT_EQ(open_fds().size(), with_io.size() + 2) << "each waiting operation owns one descriptor";
    }
    EXPECT_FALSE(called) << "Asio destroys pending handlers without calling them";
    EXPECT_EQ(open_fds(), before) << "Asio closed its own copies and nothing of tether's";
    ours.send("ping");
    auto m = ours.receive_for(30s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text(), "echo: ping");
    ours.close();
    EXPECT_TRUE(kid.wait().success());
}

TEST(AsioInterop, AsioDescriptorsOutliveTheTetherObjects) {
    asio::io_context io;
    // The exit wait holds its own pidfd: tether reaping the child (and closing its pidfd) while
    // Asio waits pulls nothing out of Asio's reactor.
    auto kid = spawn_waiting_for_stdin();
    std::optional<exit_result> x;
    tether::async_wait_exit(io.get_executor(), kid, [&](std::error_code ec, tether::exit_status st) { x = {ec, st}; });
    io.poll();
    auto stdin_end = kid.take_stdin();
    stdin_end.reset();
    EXPECT_TRUE(kid.wait().success());
    EXPECT_FALSE(kid.process_handle()) << "tether closed its pidfd when it reaped the child";
    ASSERT_TRUE(run_until(io, [&] { return x.has_value(); }));
    EXPECT_FALSE(x->ec) << x->ec.message();
    EXPECT_TRUE(x->status.success());
    // A pipe end moved into Asio stays Asio's after the child object is gone.
    std::optional<asio::readable_pipe> out;
    {
        auto opt = tether_test::role_options("asio_print");
        opt.out = tether::stdio::pipe();
        auto printer = tether::spawn(std::move(opt));
        out.emplace(tether::asio_pipe::readable(io.get_executor(), printer.take_stdout()));
        printer.detach();
    }
    std::string text;
    std::optional<std::error_code> done;
    asio::async_read(*out, asio::dynamic_buffer(text), [&](std::error_code ec, std::size_t) { done = ec; });
    ASSERT_TRUE(run_until(io, [&] { return done.has_value(); }));
    EXPECT_EQ(*done, asio::error::eof);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1000);
}

TEST(AsioInterop, ReceiveOnAClosedChannelReportsClosed) {
    asio::io_context io;
    tether::channel none;
    auto r = receive_one(io, none);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->ec, tether::errc::closed) << r->ec.message();
}

#else  // standalone Asio not installed

#include <gtest/gtest.h>

TEST(AsioInterop, Skipped) { GTEST_SKIP() << "standalone Asio (libasio-dev) not installed"; }

#endif

TEST(AsioInterop, ATerminalReadsToEndOfFileAndTakesInput) {
    asio::io_context io;
    tether::spawn_options opt;
    opt.argv = {"/bin/sh", "-c", "read line; echo \"got $line\""};
    opt.in = tether::stdio::terminal();
    opt.out = tether::stdio::terminal();
    opt.err = tether::stdio::terminal();
    auto kid = tether::spawn(std::move(opt));
    auto t = kid.take_terminal();
    std::string text;
    std::optional<std::error_code> done;
    {
        tether::asio_terminal term(io.get_executor(), t);
        asio::async_write(term, asio::buffer(std::string_view("typed\n")), [](std::error_code, std::size_t) {});
        asio::async_read(term, asio::dynamic_buffer(text), [&](std::error_code ec, std::size_t) { done = ec; });
        ASSERT_TRUE(run_until(io, [&] { return done.has_value(); }));
    }
    EXPECT_EQ(*done, asio::error::eof) << "the session's end (EIO on Linux) is Asio's end-of-file: " << done->message();
    EXPECT_TRUE(tether_test::contains(text, "got typed")) << text;
    EXPECT_TRUE(kid.wait().success());
    tether::terminal closed;
    EXPECT_THROW(tether::asio_terminal(io.get_executor(), closed), std::system_error);
}
