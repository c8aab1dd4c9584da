// Interop with the real .NET 10 runtime, both ways round, with tests/dotnet10 (TetherInterop.dll,
// built by cmake/dotnet.cmake): a .NET parent (AnonymousPipeServerStream, Process.Start,
// GetClientHandleAsString()) with a tether child that opens the string with pipe_client, and a
// tether parent (pipe_server, client_handle_string()) with a .NET child
// (AnonymousPipeClientStream). Then the bug .NET leaves to its users, run for real: a parent that
// forgets DisposeLocalCopyOfClientHandle(), and one whose second Process.Start inherits the first
// child's pipe; `tether holders` names the copy that keeps end-of-file away. Every wait is bounded:
// a missing end-of-file fails the test instead of hanging it. Mono's tests are
// dotnet_interop_test.cpp.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

using tether_test::contains;

// The lines the tether roles write ("line I from tether"), and .NET's ("line I from .NET").
std::string numbered_lines(int n, const std::string& from) {
    std::string text;
    for (int i = 1; i <= n; ++i) text += "line " + std::to_string(i) + " from " + from + "\n";
    return text;
}

// Empty when the .NET program can run here, else why not (for GTEST_SKIP).
std::string why_no_dotnet() {
    if (std::string(TETHER_DOTNET_SKIP_REASON) != "") return TETHER_DOTNET_SKIP_REASON;
    if (::access(TETHER_DOTNET_EXECUTABLE, X_OK) != 0)
        return std::string(TETHER_DOTNET_EXECUTABLE) + ", which built tests/dotnet10, is gone";
    if (::access(TETHER_DOTNET_INTEROP_DLL, R_OK) != 0)
        return std::string(TETHER_DOTNET_INTEROP_DLL) + " was not built";
    return {};
}

#define REQUIRE_DOTNET()                                                         \
    do {                                                                         \
        if (auto why = why_no_dotnet(); !why.empty()) GTEST_SKIP() << why;       \
    } while (0)

// argv of `dotnet TetherInterop.dll args...`.
std::vector<std::string> dotnet_argv(const std::vector<std::string>& args) {
    std::vector<std::string> argv{TETHER_DOTNET_EXECUTABLE, TETHER_DOTNET_INTEROP_DLL};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// "-- tether_tests --role ROLE args...": a tether child for the .NET parent to start.
std::vector<std::string> tether_role(const std::string& role, const std::vector<std::string>& args) {
    std::vector<std::string> cmd{"--", tether::current_executable_path(), "--role", role};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// A .NET parent run by the test: its stdin is ours to write (it waits for a line there), its
// stdout is read line by line, and on every way out of the test it ends with all it started
// (a group of its own, killed as a tree).
class dotnet_parent {
public:
    explicit dotnet_parent(const std::vector<std::string>& args) {
        tether::spawn_options opt;
        opt.argv = dotnet_argv(args);
        opt.in = tether::stdio::pipe();
        opt.out = tether::stdio::pipe();
        opt.group = tether::process_group::new_group;
        proc_ = tether::spawn(std::move(opt));
        in_ = proc_.take_stdin();
        out_ = proc_.take_stdout();
    }
    dotnet_parent(const dotnet_parent&) = delete;
    dotnet_parent& operator=(const dotnet_parent&) = delete;
    ~dotnet_parent() {
        std::error_code ec;
        if (!proc_.status()) proc_.kill_tree(ec);
        (void)proc_.wait(ec);
    }

    // Lines until one starts with `prefix`; that line, or nothing if end-of-file or 60 s came
    // first. Every line read is kept for finish().
    std::optional<std::string> line_starting(const std::string& prefix) {
        auto deadline = std::chrono::steady_clock::now() + 60s;
        std::string s;
        std::byte b[1];
        std::error_code ec;
        while (std::chrono::steady_clock::now() < deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (tether::read_for(out_, b, left, ec) != 1 || ec) break;
            s += static_cast<char>(b[0]);
            if (b[0] != std::byte{'\n'}) continue;
            seen_ += s;
            if (s.rfind(prefix, 0) == 0) return s.substr(0, s.size() - 1);
            s.clear();
        }
        seen_ += s + "<no line '" + prefix + "...': " + (ec ? ec.message() : "end-of-file") + ">\n";
        return std::nullopt;
    }
    void say(std::string_view text) { tether::write_all(in_, text); }
    // The rest of its output, then how it ended (both bounded).
    std::string finish() {
        std::error_code ec;
        seen_ += tether::read_to_end_for(out_, 60s, ec);
        if (ec) seen_ += "<no end-of-file from the .NET parent: " + ec.message() + ">";
        auto st = proc_.wait_or_kill(60s);
        if (!st.success()) seen_ += "<the .NET parent " + st.describe() + ">";
        return seen_;
    }
    const std::string& seen() const { return seen_; }

private:
    tether::child proc_;
    tether::unique_handle in_, out_;
    std::string seen_;
};

// A .NET parent that runs to its end; everything it printed, with how it ended if not 0.
std::string run_dotnet_parent(const std::vector<std::string>& args) {
    dotnet_parent p(args);
    return p.finish();
}

// `tether holders PID:FD` when the tool was built, else the same text from the library.
std::string holders_text(const std::string& target) {
#ifdef TETHER_CLI_PATH
    auto r = tether_test::run_captured({TETHER_CLI_PATH, "holders", target});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
#else
    auto colon = target.find(':');
    return tether::describe(tether::holders(std::stoll(target.substr(0, colon)), std::stoll(target.substr(colon + 1))));
#endif
}

// From "holders PID:FD (...)": "PID:FD".
std::string holders_target(const std::string& line) {
    auto start = line.find(' ') + 1;
    return line.substr(start, line.find(' ', start) - start);
}

}  // namespace

// ---- The tether children of the .NET parents: the client side, tether::pipe_client.

// HANDLE N: writes N numbered lines.
TETHER_CHILD_ROLE(dotnet10_writer) {
    tether::pipe_client client(tether::direction::out, args.at(0));
    client.write(numbered_lines(std::stoi(args.at(1)), "tether"));
    return 0;
}

// HANDLE: writes "ready", then waits until it is killed (or its stdin, the .NET parent's, ends).
TETHER_CHILD_ROLE(dotnet10_writer_waits) {
    tether::pipe_client client(tether::direction::out, args.at(0));
    client.write(std::string_view("ready\n"));
    (void)tether::read_to_end(tether::borrowed_handle(0));
    return 0;
}

// HANDLE: reads to end-of-file and says how many lines and bytes came.
TETHER_CHILD_ROLE(dotnet10_reader) {
    tether::pipe_client client(tether::direction::in, args.at(0));
    std::string text = client.read_to_end();
    auto lines = std::count(text.begin(), text.end(), '\n');
    std::printf("tether child read %ld lines, %zu bytes\n", static_cast<long>(lines), text.size());
    return 0;
}

// ---- A .NET 10 parent, a tether child.

TEST(Dotnet10Interop, DotnetParentReadsATetherChildToEndOfFile) {
    REQUIRE_DOTNET();
    auto out = run_dotnet_parent(concat({"parent-reads"}, tether_role("dotnet10_writer", {"{handle}", "2000"})));
    auto bytes = numbered_lines(2000, "tether").size();
    EXPECT_TRUE(contains(out, "parent read 2000 lines, " + std::to_string(bytes) +
                                  " bytes, the last \"line 2000 from tether\", then end-of-file; "
                                  "the child exited with code 0"))
        << out;
}

TEST(Dotnet10Interop, DotnetParentSeesEndOfFileWhenItKillsTheTetherChild) {
    REQUIRE_DOTNET();
    auto out = run_dotnet_parent(concat({"parent-reads", "--kill"}, tether_role("dotnet10_writer_waits", {"{handle}"})));
    EXPECT_TRUE(contains(out, "first line: ready\n")) << out;
    EXPECT_TRUE(contains(out, " ms after Kill(); the child exited with code 137")) << out;  // 128 + SIGKILL
}

TEST(Dotnet10Interop, DotnetParentWritesToATetherChild) {
    REQUIRE_DOTNET();
    auto out = run_dotnet_parent(concat({"parent-writes", "2000"}, tether_role("dotnet10_reader", {"{handle}"})));
    auto bytes = numbered_lines(2000, ".NET").size();
    EXPECT_TRUE(contains(out, "tether child read 2000 lines, " + std::to_string(bytes) + " bytes\n")) << out;
    EXPECT_TRUE(contains(out, "parent wrote 2000 lines; the child exited with code 0")) << out;
}

TEST(Dotnet10Interop, DotnetParentsWriteFailsOnceTheTetherChildIsKilled) {
    REQUIRE_DOTNET();
    auto out = run_dotnet_parent(concat({"parent-writes", "10", "--kill"}, tether_role("dotnet10_reader", {"{handle}"})));
    EXPECT_TRUE(contains(out, "write after Kill() failed: ")) << out;
    EXPECT_FALSE(contains(out, "tether child read")) << "the child was to be killed first:\n" << out;
}

// ---- A tether parent, a .NET 10 child, through the .NET shape.

namespace {

// `dotnet TetherInterop.dll COMMAND HANDLE-STRING [arg]` started as the README's .NET shape says.
struct dotnet_child {
    tether::pipe_server server;
    tether::child proc;

    dotnet_child(tether::direction d, const std::string& command, const std::vector<std::string>& more)
        : server(d) {
        tether::spawn_options opt;
        opt.argv = dotnet_argv(concat({command, server.client_handle_string()}, more));
        opt.pass(server.take_client_handle());
        opt.out = tether::stdio::pipe();
        opt.kill_on_destroy = true;
        proc = tether::spawn(std::move(opt));
    }
};

}  // namespace

TEST(Dotnet10Interop, TetherParentReads2000LinesFromADotnetChild) {
    REQUIRE_DOTNET();
    dotnet_child c(tether::direction::in, "client-writes", {"2000"});
    std::error_code ec;
    auto text = tether::read_to_end_for(c.server.handle(), 60s, ec);
    EXPECT_FALSE(ec) << "no end-of-file from the .NET child: " << ec.message();
    EXPECT_EQ(text, numbered_lines(2000, ".NET"));
    EXPECT_TRUE(c.proc.wait_or_kill(60s).success());
}

TEST(Dotnet10Interop, KillingADotnetChildMidStreamGivesEndOfFileAtOnce) {
    REQUIRE_DOTNET();
    dotnet_child c(tether::direction::in, "client-writes", {"forever"});
    // Mid-stream: at least 1,000 lines have come and the child is still writing.
    std::string text;
    std::byte buf[4096];
    std::error_code ec;
    while (std::count(text.begin(), text.end(), '\n') < 1000) {
        auto n = tether::read_for(c.server.handle(), buf, 60s, ec);
        ASSERT_TRUE(n > 0 && !ec) << "the .NET child stopped writing: " << (ec ? ec.message() : "end-of-file");
        text.append(reinterpret_cast<const char*>(buf), n);
    }
    auto t0 = std::chrono::steady_clock::now();
    c.proc.kill();
    (void)tether::read_to_end_for(c.server.handle(), 20s, ec);
    EXPECT_FALSE(ec) << "no end-of-file after the .NET child was killed: " << ec.message();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    auto st = c.proc.wait();
    EXPECT_TRUE(st.signalled() && st.code == 9) << st.describe();
    EXPECT_EQ(text.rfind(numbered_lines(1000, ".NET"), 0), 0u) << text.substr(0, 200);
}

TEST(Dotnet10Interop, TetherParentWrites2000LinesToADotnetChild) {
    REQUIRE_DOTNET();
    dotnet_child c(tether::direction::out, "client-reads", {});
    auto text = numbered_lines(2000, "tether");
    tether::write_all_for(c.server.handle(), std::as_bytes(std::span(text)), 60s);
    c.server.close();  // the child's end-of-file
    std::error_code ec;
    auto out = tether::read_to_end_for(c.proc.take_stdout(), 60s, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(out, "client opened the pipe\nclient read 2000 lines, " + std::to_string(text.size()) + " bytes\n");
    EXPECT_TRUE(c.proc.wait_or_kill(60s).success());
}

TEST(Dotnet10Interop, WritingToAKilledDotnetChildIsPeerGone) {
    REQUIRE_DOTNET();
    dotnet_child c(tether::direction::out, "client-reads", {});
    c.server.write(numbered_lines(10, "tether"));
    // Killed once it runs with the pipe open (its first line), not before the runtime started.
    auto out = c.proc.take_stdout();
    std::error_code ec;
    std::string opened;
    std::byte b[1];
    while (opened.size() < 23 && tether::read_for(out, b, 60s, ec) == 1) opened += static_cast<char>(b[0]);
    EXPECT_EQ(opened, "client opened the pipe\n") << ec.message();
    c.proc.kill();
    (void)c.proc.wait();
    auto line = std::string_view("one line more\n");
    (void)tether::write_all_for(c.server.handle(), std::as_bytes(std::span(line)), 20s, ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message();
}

// ---- The bugs .NET leaves to its users, and `tether holders` naming the culprit.

TEST(Dotnet10Interop, ForgottenDisposeLocalCopyHoldersNamesTheParentsOwnCopy) {
    REQUIRE_DOTNET();
    dotnet_parent p(concat({"forget", "--patience-ms", "300"}, tether_role("dotnet10_writer", {"{handle}", "1"})));
    auto line = p.line_starting("holders ");
    ASSERT_TRUE(line) << p.finish();
    std::string state = *line;
    EXPECT_TRUE(contains(p.seen(), "the child exited with code 0\nno end-of-file after 300 ms\n")) << p.seen();
    std::string target = holders_target(state);
    std::string client_fd = state.substr(state.rfind("fd ") + 3, state.size() - state.rfind("fd ") - 4);
    std::string report = holders_text(target);
    EXPECT_TRUE(contains(report, "fd " + target.substr(target.find(':') + 1) + " (read end of pipe ")) << report;
    EXPECT_TRUE(contains(report, "end-of-file will not arrive while the write end is also held by this process "
                                 "itself (fd " + client_fd + "): close your local copy of the client handle"))
        << report;
    p.say("\n");  // now the parent calls DisposeLocalCopyOfClientHandle()
    auto out = p.finish();
    EXPECT_TRUE(contains(out, " ms after DisposeLocalCopyOfClientHandle()\n")) << out;
    EXPECT_FALSE(contains(out, "<the .NET parent")) << out;
}

TEST(Dotnet10Interop, SecondProcessStartInheritsTheFirstPipeHoldersNamesTheSibling) {
    REQUIRE_DOTNET();
    auto args = concat(concat({"sibling", "--patience-ms", "300"}, tether_role("dotnet10_writer", {"{handle}", "1"})),
                       tether_role("dotnet10_reader", {"{handle}"}));
    dotnet_parent p(args);
    auto line = p.line_starting("holders ");
    ASSERT_TRUE(line) << p.finish();
    std::string state = *line;
    EXPECT_TRUE(contains(p.seen(), "the first child exited with code 0\nno end-of-file after 300 ms\n")) << p.seen();
    std::string sibling = state.substr(state.rfind("PID ") + 4, state.size() - state.rfind("PID ") - 5);
    std::string report = holders_text(holders_target(state));
    // The command is cut to 60 characters: the role's name may not show.
    EXPECT_TRUE(contains(report, "end-of-file will not arrive while the write end is also held by PID " + sibling + " `"))
        << report;
    EXPECT_TRUE(contains(report, "), a child")) << report;
    EXPECT_FALSE(contains(report, "this process itself")) << "the parent disposed of its own copies:\n" << report;
    p.say("\n");  // now the parent closes the sibling's pipe; the sibling exits
    auto out = p.finish();
    EXPECT_TRUE(contains(out, " ms after the sibling's pipe was closed; the sibling exited with code 0")) << out;
    EXPECT_FALSE(contains(out, "<the .NET parent")) << out;
}
