// Windows only: stdio::terminal() through spawn(): the child on a pseudo console (ConPTY), its
// output read through the terminal to end-of-file after the child's exit, a named handle passed
// beside the console. The engine itself is tested in pseudo_console_test.cpp.
//
// Under wine 8 a child's std handles are not attached to the console (wine leaves a NULL std
// handle NULL): the programs here write to CONOUT$ themselves, which works on Windows as well.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include <windows.h>

using namespace std::chrono_literals;

namespace {

tether::spawn_options on_terminal(std::vector<std::string> argv) {
    tether::spawn_options opt;
    opt.argv = std::move(argv);
    opt.in = tether::stdio::terminal(100, 30);
    opt.out = tether::stdio::terminal(100, 30);
    opt.err = tether::stdio::terminal(100, 30);
    return opt;
}

}  // namespace

// term_say_and_pass TEXT: writes TEXT to the console and "passed" into the handle named "log".
TETHER_CHILD_ROLE(term_say_and_pass) {
    HANDLE out = ::CreateFileW(L"CONOUT$", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                               OPEN_EXISTING, 0, nullptr);
    if (out == INVALID_HANDLE_VALUE) return 3;
    DWORD n = 0;
    std::string text = args.at(0) + "\r\n";
    if (!::WriteFile(out, text.data(), static_cast<DWORD>(text.size()), &n, nullptr)) return 4;
    auto log = tether::inherited("log");
    tether::write_all(log, std::string_view("passed"));
    return 0;
}

TEST(WindowsTerminal, CmdEchoArrivesThroughTheTerminalThenEndOfFile) {
    auto c = tether::spawn(on_terminal({"cmd.exe", "/c", "echo hello-terminal>CONOUT$"}));
    auto t = c.take_terminal();
    ASSERT_TRUE(t);
    std::error_code ec;
    auto screen = tether::read_to_end_for(t.output(), 30s, ec);
    EXPECT_FALSE(ec) << ec.message() << " after: " << screen;
    EXPECT_TRUE(tether_test::contains(screen, "hello-terminal")) << screen;
    EXPECT_TRUE(c.wait().success());
}

TEST(WindowsTerminal, ANamedHandleCrossesBesideTheConsole) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("term_say_and_pass", {"on-the-console"});
    opt.in = tether::stdio::terminal();
    opt.out = tether::stdio::terminal();
    opt.err = tether::stdio::terminal();
    opt.pass(std::move(theirs), "log");
    auto c = tether::spawn(std::move(opt));
    auto t = c.take_terminal();
    std::error_code ec;
    auto screen = tether::read_to_end_for(t.output(), 30s, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(tether_test::contains(screen, "on-the-console")) << screen;
    EXPECT_EQ(tether::read_to_end_for(ours, 30s), "passed");
    EXPECT_EQ(c.wait().code, 0);
}

TEST(WindowsTerminal, ResizeSaysWhatTheSystemLacksOrTakesTheSize) {
    auto c = tether::spawn(on_terminal({"cmd.exe", "/c", "exit"}));
    auto t = c.take_terminal();
    std::error_code ec;
    t.resize(120, 40, ec);
    if (ec) {
        // wine 8: ResizePseudoConsole is E_NOTIMPL.
        EXPECT_EQ(ec, tether::errc::not_supported) << ec.message();
        std::printf("note: this system has no ResizePseudoConsole (%s): the resize itself is not exercised\n",
                    ec.message().c_str());
    } else {
        EXPECT_EQ(t.size(), (tether::terminal_size{120, 40}));
    }
    c.wait();
}

TEST(WindowsTerminal, ASizeNoConsoleHasIsRefusedNamingIt) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.in = tether::stdio::terminal(40000, 24);
    opt.out = tether::stdio::terminal(40000, 24);
    opt.err = tether::stdio::terminal(40000, 24);
    opt.pass(std::move(theirs), "log");
    tether_test::expect_spawn_fails_keeping_handles(opt, tether::errc::invalid_argument, "40000");
    opt.handles.clear();
    EXPECT_EQ(tether::read_to_end(ours.borrow()), "") << "no child holds the passed end";
}

TEST(WindowsTerminal, ThePollerReportsTheOutputThenItsEnd) {
    auto c = tether::spawn(on_terminal({"cmd.exe", "/c", "echo polled>CONOUT$"}));
    auto t = c.take_terminal();
    tether::poller p;
    p.add(t.output(), tether::interest::read, 7);
    std::vector<tether::poll_event> events;
    std::string out;
    bool ended = false;
    auto until = std::chrono::steady_clock::now() + 30s;
    while (!ended && std::chrono::steady_clock::now() < until) {
        p.wait(events, 5s);
        for (auto& e : events) {
            ASSERT_EQ(e.token, 7u);
            char buf[4096];
            std::error_code ec;
            auto n = tether::try_read(t.output(), std::as_writable_bytes(std::span(buf)), ec);
            if (!ec) out.append(buf, n);
            ended |= (!ec && n == 0) || e.what == tether::poll_event::kind::hung_up;
        }
    }
    EXPECT_TRUE(ended) << "no end-of-file through the poller; output: " << out;
    EXPECT_TRUE(tether_test::contains(out, "polled")) << out;
    EXPECT_TRUE(c.wait().success());
}

TEST(WindowsTerminal, ChunkReaderReadsToTheEndOfTheSession) {
    auto c = tether::spawn(on_terminal({"cmd.exe", "/c", "echo chunked>CONOUT$"}));
    auto t = c.take_terminal();
    tether::chunk_reader reader(t.output());
    std::string out;
    for (auto chunk = reader.next(); !chunk.empty(); chunk = reader.next())
        out.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    EXPECT_TRUE(tether_test::contains(out, "chunked")) << out;
    EXPECT_TRUE(c.wait().success());
}

TEST(WindowsTerminal, RunCapturesWhatTheChildShowsOnItsTerminal) {
    tether::run_options ro;
    ro.terminal = tether::terminal_size{};
    ro.timeout = 30s;
    tether::spawn_options opt;
    opt.argv = {"cmd.exe", "/c", "echo ran-on-a-console>CONOUT$"};
    auto r = tether::run(std::move(opt), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    EXPECT_TRUE(tether_test::contains(r.out, "ran-on-a-console")) << r.out;
    EXPECT_TRUE(r.err.empty()) << "a terminal's output is all stdout";
}

namespace {
HANDLE ctrl_c_seen = nullptr;  // set by the console control handler of term_wait_ctrl_c
BOOL WINAPI on_ctrl(DWORD type) {
    if (type != CTRL_C_EVENT) return FALSE;
    ::SetEvent(ctrl_c_seen);
    return TRUE;
}
}  // namespace

// term_wait_ctrl_c: says "ready" on the console, then waits (at most 30 s) for a Ctrl-C seen by
// its console control handler (exit 0), or exits 9. (Ctrl-C's default handler would end it with
// STATUS_CONTROL_C_EXIT.) The exit code is the proof: under wine 8 a line the child writes right
// after the Ctrl-C does not reach the terminal's output before the session ends.
TETHER_CHILD_ROLE(term_wait_ctrl_c) {
    HANDLE out = ::CreateFileW(L"CONOUT$", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                               OPEN_EXISTING, 0, nullptr);
    HANDLE in = ::CreateFileW(L"CONIN$", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                              OPEN_EXISTING, 0, nullptr);
    if (out == INVALID_HANDLE_VALUE || in == INVALID_HANDLE_VALUE) return 3;
    DWORD mode = 0;
    if (::GetConsoleMode(in, &mode)) ::SetConsoleMode(in, mode | ENABLE_PROCESSED_INPUT);
    ctrl_c_seen = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (!::SetConsoleCtrlHandler(on_ctrl, TRUE)) return 4;
    DWORD n = 0;
    ::WriteFile(out, "ready\r\n", 7, &n, nullptr);
    if (::WaitForSingleObject(ctrl_c_seen, 30000) != WAIT_OBJECT_0) return 9;
    return 0;
}

TEST(WindowsTerminal, ATypedCtrlCReachesTheChild) {
    auto opt = tether_test::role_options("term_wait_ctrl_c");
    opt.in = tether::stdio::terminal();
    opt.out = tether::stdio::terminal();
    opt.err = tether::stdio::terminal();
    auto c = tether::spawn(std::move(opt));
    auto t = c.take_terminal();
    std::string seen;
    std::byte buf[4096];
    auto until = std::chrono::steady_clock::now() + 30s;
    while (!tether_test::contains(seen, "ready") && std::chrono::steady_clock::now() < until) {
        std::error_code ec;
        auto n = tether::read_for(t.output(), buf, 30s, ec);
        if (ec || n == 0) break;
        seen.append(reinterpret_cast<const char*>(buf), n);
    }
    ASSERT_TRUE(tether_test::contains(seen, "ready")) << seen;
    tether::write_all(t.input(), std::string_view("\x03"));
    std::error_code ec;
    (void)tether::read_to_end_for(t.output(), 60s, ec);
    EXPECT_FALSE(ec) << "no end of the session: " << ec.message();
    auto st = c.wait();
    EXPECT_EQ(st.code, 0) << "the child saw no Ctrl-C (9: waited 30 s in vain): " << st.describe();
}
