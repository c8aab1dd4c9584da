// stdio::terminal() on Linux with real Debian programs (tty, python3, stty, bash, sleep): the
// child's controlling terminal, its size and SIGWINCH, Ctrl-C, end-of-file when the session
// ends, and the grandchild that keeps it alive. Every wait is for output (a marker, bounded in
// time), never a sleep. The terminal echoes what we type: the expectations allow for it.
#include <gtest/gtest.h>

#include <tether/error.hpp>
#include <tether/pipe.hpp>
#include <tether/poller.hpp>
#include <tether/spawn.hpp>
#include <tether/terminal.hpp>
#include <tether/tied.hpp>
#include <tether/holders.hpp>
#include <tether/run.hpp>

#include "support/harness.hpp"
#include "support/lifetime_support.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <string>
#include <unistd.h>

using namespace std::chrono_literals;
using tether_test::contains;

namespace {

tether::spawn_options on_terminal(std::vector<std::string> argv, unsigned cols = 80, unsigned rows = 24) {
    tether::spawn_options opt;
    opt.argv = std::move(argv);
    opt.in = tether::stdio::terminal(cols, rows);
    opt.out = tether::stdio::terminal(cols, rows);
    opt.err = tether::stdio::terminal(cols, rows);
    return opt;
}

// Reads the terminal's output until `marker` has appeared (returns all read so far), or fails
// the test after `limit` or at end-of-file without it.
std::string read_until(const tether::terminal& t, std::string_view marker, std::string so_far = {},
                       std::chrono::milliseconds limit = 20s) {
    auto until = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (!contains(so_far, marker)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left <= 0ms) {
            ADD_FAILURE() << "no '" << marker << "' in the terminal's output within the limit; got: " << so_far;
            return so_far;
        }
        std::error_code ec;
        auto n = tether::read_for(t.output(), std::as_writable_bytes(std::span(buf)), left, ec);
        if (ec == tether::errc::timed_out) continue;
        if (ec || n == 0) {
            ADD_FAILURE() << "end of the terminal's output (" << ec.message() << ") before '" << marker << "': " << so_far;
            return so_far;
        }
        so_far.append(buf, n);
    }
    return so_far;
}

// Everything until end-of-file, which must come (an error would fail the test).
std::string read_to_eof(const tether::terminal& t, std::string so_far = {}) {
    std::error_code ec;
    so_far += tether::read_to_end_for(t.output(), 20s, ec);
    EXPECT_FALSE(ec) << ec.message() << "; read: " << so_far;
    return so_far;
}

void type(const tether::terminal& t, std::string_view text) { tether::write_all(t.input(), text); }

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Waits (bounded) until `parent` has a child running `program` (exec'd: its comm says so).
bool wait_for_child_running(std::int64_t parent, const std::string& program, std::chrono::milliseconds limit = 20s) {
    auto until = std::chrono::steady_clock::now() + limit;
    auto p = std::to_string(parent);
    while (std::chrono::steady_clock::now() < until) {
        std::istringstream kids(read_file("/proc/" + p + "/task/" + p + "/children"));
        for (std::string k; kids >> k;)
            if (read_file("/proc/" + k + "/comm") == program + "\n") return true;
        std::this_thread::sleep_for(1ms);  // polling a condition, bounded: not a synchronising sleep
    }
    return false;
}

}  // namespace

TEST(TerminalPosix, TtyPrintsAPseudoTerminalDevice) {
    auto c = tether::spawn(on_terminal({"tty"}));
    auto t = c.take_terminal();
    ASSERT_TRUE(t);
    auto out = read_to_eof(t);
    EXPECT_TRUE(contains(out, "/dev/pts/")) << out;
    EXPECT_TRUE(c.wait().success());
}

TEST(TerminalPosix, PythonSeesATerminalOnStdout) {
    auto c = tether::spawn(on_terminal({"python3", "-c", "import sys; print(sys.stdout.isatty(), sys.stdin.isatty())"}));
    auto t = c.take_terminal();
    auto out = read_to_eof(t);
    EXPECT_TRUE(contains(out, "True True")) << out;
    EXPECT_TRUE(c.wait().success());
}

TEST(TerminalPosix, OutputEndsWithCarriageReturnNewlineAsOnATerminal) {
    auto c = tether::spawn(on_terminal({"/bin/echo", "hi"}));
    auto t = c.take_terminal();
    EXPECT_EQ(read_to_eof(t), "hi\r\n");  // the line discipline's ONLCR, not a pipe's bytes
    EXPECT_TRUE(c.wait().success());
}

TEST(TerminalPosix, SttySizeReportsTheSizeAskedForThenTheNewSizeAfterResize) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "stty size; echo ready; read x; stty size"}, 100, 30));
    auto t = c.take_terminal();
    auto out = read_until(t, "ready");
    EXPECT_TRUE(contains(out, "30 100")) << out;
    EXPECT_EQ(t.size(), (tether::terminal_size{100, 30}));
    t.resize(132, 43);
    EXPECT_EQ(t.size(), (tether::terminal_size{132, 43}));
    type(t, "go\n");
    out = read_to_eof(t, out);
    EXPECT_TRUE(contains(out, "43 132")) << out;
    EXPECT_TRUE(c.wait().success());
}

TEST(TerminalPosix, ResizeSendsSigwinchToTheForegroundGroup) {
    auto c = tether::spawn(on_terminal({"/bin/bash", "--norc", "--noprofile", "-c",
                                         "trap 'echo winch $(stty size)' WINCH; echo ready; read x; read y"}));
    auto t = c.take_terminal();
    auto out = read_until(t, "ready");
    t.resize(90, 20);
    type(t, "a\n");  // bash runs the trap once `read` returns
    out = read_until(t, "winch 20 90", out);
    type(t, "b\n");
    read_to_eof(t, out);
    EXPECT_TRUE(c.wait().success());
}

namespace {
struct session {
    tether::child c;
    tether::terminal t;
    std::string out;  // read so far
};

// An interactive bash without startup files, once it has shown its first prompt.
session interactive_bash(const std::string& prompt) {
    auto opt = on_terminal({"/bin/bash", "--norc", "--noprofile", "-i"});
    opt.env_set["PS1"] = prompt;
    session s{tether::spawn(std::move(opt)), {}, {}};
    s.t = s.c.take_terminal();
    s.out = read_until(s.t, prompt);
    return s;
}
}  // namespace

TEST(TerminalPosix, InteractiveBashAnswersACommandAndExitsOnExit) {
    auto [c, t, out] = interactive_bash("tether-prompt$ ");
    type(t, "echo $((6 * 7))\n");
    out = read_until(t, "42\r\n", out);  // the echo of our line holds "6 * 7", not 42
    type(t, "exit 3\n");
    read_to_eof(t, out);
    auto st = c.wait();
    EXPECT_TRUE(st.exited() && st.code == 3) << st.describe();
}

// Ctrl-C is the terminal's: 0x03 makes the line discipline send SIGINT to the foreground
// process group. A non-interactive sh has no job control, so `sleep` stays in the shell's own
// group, the foreground one (the child leads its session and group): both get SIGINT, and the
// shell ends by it without running `echo after`, as when Ctrl-C is typed at a real terminal.
TEST(TerminalPosix, CtrlCEndsTheForegroundSleep) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "sleep 100; echo after"}));
    auto t = c.take_terminal();
    // Not before sleep runs: a SIGINT that reaches sh while it forks is deferred by sh until
    // its wait for sleep ends, 100 s later (dash), which is the shell's business, not ours.
    ASSERT_TRUE(wait_for_child_running(c.pid(), "sleep"));
    type(t, "\x03");
    auto out = read_to_eof(t);
    auto st = c.wait_or_kill(20s);
    EXPECT_FALSE(contains(out, "after")) << out;
    EXPECT_TRUE(st.signalled() && st.code == SIGINT) << st.describe();
}

// An interactive bash puts `sleep` in a foreground job of its own; Ctrl-C ends that job only,
// and bash answers the next command.
TEST(TerminalPosix, CtrlCInInteractiveBashEndsTheForegroundJobOnly) {
    auto [c, t, out] = interactive_bash("P$ ");
    type(t, "sleep 100; echo after-$((1+1))\n");
    ASSERT_TRUE(wait_for_child_running(c.pid(), "sleep"));  // bash has read the line and runs it
    type(t, "\x03");
    out = read_until(t, "P$ ");  // a new prompt: the echoed line holds none
    type(t, "echo alive-$((2+2))\n");
    out = read_until(t, "alive-4", out);
    type(t, "exit\n");
    out = read_to_eof(t, out);
    EXPECT_FALSE(contains(out, "after-2")) << out;
    EXPECT_TRUE(c.wait().exited());
}

TEST(TerminalPosix, ReadingAfterTheChildExitedIsEndOfFileNotAnError) {
    auto c = tether::spawn(on_terminal({"/bin/true"}));
    auto t = c.take_terminal();
    EXPECT_TRUE(c.wait().success());
    char buf[64];
    std::error_code ec;
    EXPECT_EQ(tether::read(t.output(), std::as_writable_bytes(std::span(buf)), ec), 0u);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(tether::read_for(t.output(), std::as_writable_bytes(std::span(buf)), 1s, ec), 0u);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(tether::try_read(t.output(), std::as_writable_bytes(std::span(buf)), ec), 0u);
    EXPECT_FALSE(ec) << ec.message();
    tether::chunk_reader r(t.output());
    EXPECT_TRUE(r.next(ec).empty());
    EXPECT_FALSE(ec) << ec.message();
}

// Linux keeps taking bytes for a terminal whose child side is gone until its buffer is full;
// a blocking write would then sleep for ever. tether's says peer_gone.
TEST(TerminalPosix, WritingLinesToASessionThatEndedIsPeerGoneNotAHang) {
    auto c = tether::spawn(on_terminal({"/bin/true"}));
    auto t = c.take_terminal();
    EXPECT_TRUE(c.wait().success());
    std::string lines;
    for (int i = 0; i < 20000; ++i) lines += "a line nobody will read\n";  // ~480 KiB
    std::error_code ec;
    tether::write_all_for(t.input(), std::as_bytes(std::span(lines.data(), lines.size())), 20s, ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message();
    tether::write_all(t.input(), std::as_bytes(std::span(lines.data(), lines.size())), ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message();
}

TEST(TerminalPosix, ForwardMovesTheOutputToAPipeUntilTheSessionEnds) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "echo one; echo two"}));
    auto t = c.take_terminal();
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    std::error_code ec;
    auto n = tether::forward(t.output(), theirs.borrow(), ec);
    EXPECT_FALSE(ec) << ec.message();
    theirs.reset();
    EXPECT_EQ(tether::read_to_end(ours.borrow()), "one\r\ntwo\r\n");
    EXPECT_EQ(n, 10u);
    EXPECT_TRUE(c.wait().success());
}

// epoll reports the master as hung up (EPOLLHUP) once the last holder of the child's side is
// gone; the poller passes that on, and a read then says end-of-file.
TEST(TerminalPosix, ThePollerReportsHangUpWhenTheSessionEnds) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "echo bye"}));
    auto t = c.take_terminal();
    tether::poller p;
    p.add(t.output(), tether::interest::read, 7);
    std::vector<tether::poll_event> events;
    std::string out;
    bool hung_up = false;
    auto until = std::chrono::steady_clock::now() + 20s;
    while (!hung_up && std::chrono::steady_clock::now() < until) {
        p.wait(events, 5s);
        for (auto& e : events) {
            ASSERT_EQ(e.token, 7u);
            hung_up |= e.what == tether::poll_event::kind::hung_up;
            char buf[256];
            std::error_code ec;
            auto n = tether::try_read(t.output(), std::as_writable_bytes(std::span(buf)), ec);
            if (!ec) out.append(buf, n);
            if (!ec && n == 0) hung_up = true;  // readable at end-of-file, then hung up
        }
    }
    EXPECT_TRUE(hung_up);
    EXPECT_EQ(out, "bye\r\n");
    EXPECT_TRUE(c.wait().success());
}

TEST(TerminalPosix, TheMasterIsNeverInheritableAndTheSlaveIsClosedInTheParent) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "read x"}));
    auto t = c.take_terminal();
    EXPECT_FALSE(tether::is_inheritable(t.output()));
    // Our process holds no /dev/pts/N (the slave): only the child does.
    for (int i = 0; i < 1024; ++i) {
        char path[64], target[256];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", i);
        auto n = ::readlink(path, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        EXPECT_FALSE(contains(target, "/dev/pts/") && i > 2) << "fd " << i << " is " << target;
    }
    type(t, "\n");
    EXPECT_TRUE(c.wait_or_kill(20s).success());
}

TEST(TerminalPosix, TheChildLeadsANewSessionWithTheTerminalAsItsControllingTerminal) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "ps -o sid=,pgid=,tpgid= -p $$; echo pid=$$"}));
    auto t = c.take_terminal();
    auto out = read_to_eof(t);
    auto pid = std::to_string(c.pid());
    EXPECT_TRUE(contains(out, "pid=" + pid)) << out;
    // sid, pgid and the terminal's foreground group are all the child's own id.
    std::string row = out.substr(0, out.find('\r'));
    std::istringstream in(row);
    std::string sid, pgid, tpgid;
    in >> sid >> pgid >> tpgid;
    EXPECT_EQ(sid, pid) << out;
    EXPECT_EQ(pgid, pid) << out;
    EXPECT_EQ(tpgid, pid) << out;
    EXPECT_TRUE(c.wait().success());
}

TEST(TerminalPosix, NamedHandlesStillCrossBesideTheTerminal) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = on_terminal({"/bin/sh", "-c", "echo via-pipe >&3; echo via-terminal"});
    opt.pass_at(3, std::move(theirs), "log");
    auto c = tether::spawn(std::move(opt));
    auto t = c.take_terminal();
    EXPECT_EQ(tether::read_to_end(ours.borrow()), "via-pipe\n");
    EXPECT_EQ(read_to_eof(t), "via-terminal\r\n");
    EXPECT_TRUE(c.wait().success());
}

TEST(TerminalPosix, OnlyStdoutOnATerminal) {
    tether::spawn_options opt;
    opt.argv = {"python3", "-c", "import sys; print(sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty())"};
    opt.in = tether::stdio::null();
    opt.out = tether::stdio::terminal();
    opt.err = tether::stdio::null();
    auto c = tether::spawn(std::move(opt));
    auto t = c.take_terminal();
    EXPECT_EQ(read_to_eof(t), "False True False\r\n");
    EXPECT_TRUE(c.wait().success());
}

// ---- run() and `tether run --terminal`.

// A shell's background job runs its own copy of the shell until it has exec'd: this loop (in
// the shell) waits for that, so the holder is named `sleep 100` rather than the shell's line.
const std::string until_exec = "while [ \"$(cat /proc/$!/comm)\" != sleep ]; do :; done; ";

namespace {
tether::run_options on_a_terminal() {
    tether::run_options ro;
    ro.terminal = tether::terminal_size{};
    ro.timeout = 60s;  // a hang fails here rather than blocking the suite
    return ro;
}
}  // namespace

TEST(TerminalPosix, RunCapturesTheTerminalsOutputWithStderrInIt) {
    tether::spawn_options opt;
    opt.argv = {"/bin/sh", "-c", "tty; echo to-stderr >&2; exit 4"};
    auto r = tether::run(std::move(opt), on_a_terminal());
    EXPECT_TRUE(r.status.exited() && r.status.code == 4) << r.status.describe();
    EXPECT_TRUE(contains(r.out, "/dev/pts/")) << r.out;
    EXPECT_TRUE(contains(r.out, "to-stderr\r\n")) << r.out;
    EXPECT_TRUE(r.err.empty());
    EXPECT_TRUE(r.stuck.empty());
}

TEST(TerminalPosix, RunTypesTheInputThenEndOfFile) {
    auto ro = on_a_terminal();
    ro.input = "abc\n";
    tether::spawn_options opt;
    opt.argv = {"/bin/sh", "-c", "read x; echo got-$x; cat; echo cat-ended"};
    auto r = tether::run(std::move(opt), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    EXPECT_TRUE(contains(r.out, "abc\r\n")) << r.out;  // the terminal's echo of what was typed
    EXPECT_TRUE(contains(r.out, "got-abc\r\ncat-ended\r\n")) << r.out;  // Ctrl-D ended cat
}

TEST(TerminalPosix, RunEndsAPartialLineOfInputWithTwoCtrlDs) {
    auto ro = on_a_terminal();
    ro.input = "no-newline";
    tether::spawn_options opt;
    opt.argv = {"/bin/cat"};
    auto r = tether::run(std::move(opt), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    // The echo, then cat's copy of the line the first Ctrl-D handed over.
    EXPECT_TRUE(contains(r.out, "no-newlineno-newline")) << r.out;
}

// Input the child never reads: run() neither blocks in a write nor hangs; it returns when the
// child has exited, the input cut short.
TEST(TerminalPosix, RunWithInputTheChildNeverReadsReturns) {
    auto ro = on_a_terminal();
    ro.input = std::string();
    for (int i = 0; i < 20000; ++i) *ro.input += "a line nobody will read\n";
    tether::spawn_options opt;
    opt.argv = {"/bin/true"};
    auto r = tether::run(std::move(opt), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    EXPECT_FALSE(r.timed_out);
    EXPECT_TRUE(r.input_truncated);
}

TEST(TerminalPosix, RunRefusesStderrSinksWithATerminal) {
    auto ro = on_a_terminal();
    ro.on_stderr = [](std::span<const std::byte>) {};
    tether::spawn_options opt;
    opt.argv = {"/bin/true"};
    try {
        (void)tether::run(std::move(opt), ro);
        ADD_FAILURE() << "run() accepted on_stderr with a terminal";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument);
        EXPECT_TRUE(contains(e.what(), "terminal is set: stderr is on the terminal with stdout")) << e.what();
    }
}

// The child exits, but a grandchild that ignores SIGHUP (the hang-up the session's end sends)
// keeps the terminal: run() returns after eof_grace and names it, as for a pipe.
TEST(TerminalPosix, AGrandchildHoldingTheTerminalIsNamedAndRunReturns) {
    auto ro = on_a_terminal();
    ro.eof_grace = 300ms;
    tether::spawn_options opt;
    opt.argv = {"/bin/sh", "-c", "trap '' HUP; sleep 100 & " + until_exec + "echo $!"};
    auto r = tether::run(std::move(opt), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    auto sleeper = std::stoll(r.out);
    ASSERT_EQ(r.stuck.size(), 1u);
    EXPECT_EQ(r.stuck[0].stream, "stdout");
    ASSERT_FALSE(r.stuck[0].holders.empty()) << r.stuck[0].verdict;
    EXPECT_EQ(r.stuck[0].holders[0].pid, sleeper) << r.stuck[0].verdict;
    EXPECT_TRUE(contains(r.stuck[0].verdict, "`sleep 100`")) << r.stuck[0].verdict;
    std::printf("stuck: %s\n", r.stuck[0].verdict.c_str());
    tether_test::end_if_running(sleeper);
}

TEST(TerminalPosix, TetherRunTerminalPutsCmdOnATerminal) {
#ifdef TETHER_CLI_PATH
    auto r = tether_test::run_captured({TETHER_CLI_PATH, "run", "--terminal", "--", "python3", "-c",
                                        "import sys; print(sys.stdout.isatty()); sys.stderr.write('e\\n')"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "True\r\ne\r\n");
    EXPECT_EQ(r.err, "");
#else
    GTEST_SKIP() << "the tether tool was not built (CLI11 not found)";
#endif
}

// ---- holders() knows pseudo-terminal ends.

TEST(TerminalPosix, HoldersNamesTheGrandchildThatKeepsTheSessionAlive) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "trap '' HUP; sleep 100 & " + until_exec + "echo pid=$!"}));
    auto t = c.take_terminal();
    auto out = read_until(t, "\r\n", read_until(t, "pid="));
    auto sleeper = std::stoll(out.substr(out.find("pid=") + 4));
    EXPECT_TRUE(c.wait().success());
    auto report = tether::holders(tether::this_process_id(), tether::handle_to_integer(t.output().get()));
    ASSERT_EQ(report.objects.size(), 1u);
    const auto& o = report.objects[0];
    EXPECT_EQ(o.kind, tether::object_kind::terminal);
    EXPECT_EQ(o.end, tether::object_end::read);
    bool named = false;
    // sh gives a background job /dev/null for stdin: the sleeper keeps the terminal as 1 and 2.
    for (const auto& h : o.others) named |= h.pid == sleeper && h.end == tether::object_end::write && h.handle == 1;
    EXPECT_TRUE(named) << o.verdict;
    EXPECT_TRUE(contains(o.verdict, "(master of terminal /dev/pts/")) << o.verdict;
    EXPECT_TRUE(contains(o.verdict, "end-of-file will not arrive while its child side is also held by PID " +
                                        std::to_string(sleeper) + " `sleep 100` (fds 1 and 2)")) << o.verdict;
    std::printf("verdict: %s\n", o.verdict.c_str());
    tether_test::end_if_running(sleeper);
    // Now nobody holds the child side: end-of-file, and holders says so.
    read_to_eof(t, out);
    report = tether::holders(tether::this_process_id(), tether::handle_to_integer(t.output().get()));
    ASSERT_EQ(report.objects.size(), 1u);
    EXPECT_TRUE(contains(report.objects[0].verdict, "no copy of its child side is open")) << report.objects[0].verdict;
}

TEST(TerminalPosix, HoldersOfTheChildListsItsTerminalEndsAndOurMaster) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "read x"}));
    auto t = c.take_terminal();
    auto report = tether::holders(c.pid());
    std::size_t slaves = 0;
    for (const auto& o : report.objects) {
        if (o.kind != tether::object_kind::terminal) continue;
        ++slaves;
        EXPECT_EQ(o.end, tether::object_end::write);
        EXPECT_EQ(o.handles, (std::vector<std::int64_t>{0, 1, 2}));
        bool ours = false;
        for (const auto& h : o.others)
            ours |= h.pid == tether::this_process_id() && h.end == tether::object_end::read &&
                    h.handle == tether::handle_to_integer(t.output().get());
        EXPECT_TRUE(ours) << "our master is not among the holders";
    }
    EXPECT_EQ(slaves, 1u);
    type(t, "\n");
    EXPECT_TRUE(c.wait_or_kill(20s).success());
}

// A read tied to the child (tether/tied.hpp) ends after its exit plus the grace, naming who
// keeps the terminal, as for a pipe.
TEST(TerminalPosix, AReadTiedToTheChildEndsAndNamesTheGrandchild) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "trap '' HUP; sleep 100 & " + until_exec + "echo pid=$!"}));
    auto t = c.take_terminal();
    std::error_code ec;
    std::string who;
    auto text = tether::read_to_end(t.output(), c, 300ms, ec, who);
    EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
    EXPECT_TRUE(contains(text, "pid=")) << text;
    auto sleeper = std::stoll(text.substr(text.find("pid=") + 4));
    EXPECT_TRUE(contains(who, "PID " + std::to_string(sleeper) + " `sleep 100`")) << who;
    tether_test::end_if_running(sleeper);
}

TEST(TerminalPosix, TetherHoldersNamesTheTerminalsHolders) {
#ifdef TETHER_CLI_PATH
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "read x"}));
    auto t = c.take_terminal();
    auto target = std::to_string(tether::this_process_id()) + ":" +
                  std::to_string(tether::handle_to_integer(t.output().get()));
    auto r = tether_test::run_captured({TETHER_CLI_PATH, "holders", target});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "(master of terminal /dev/pts/")) << r.out;
    EXPECT_TRUE(contains(r.out, "end-of-file will not arrive while its child side is also held by PID " +
                                    std::to_string(c.pid()) + " `/bin/sh -c read x` (fds 0, 1 and 2), a child"))
        << r.out;
    auto json = tether_test::run_captured({TETHER_CLI_PATH, "holders", "--json", target});
    EXPECT_TRUE(contains(json.out, "\"kind\": \"terminal\"")) << json.out;
    type(t, "\n");
    EXPECT_TRUE(c.wait_or_kill(20s).success());
#else
    GTEST_SKIP() << "the tether tool was not built (CLI11 not found)";
#endif
}

// ---- What a spawn makes and gives back.

namespace {
// How many of our descriptors are a pseudo-terminal's master.
int masters_open() {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd) {
        char path[64], target[64];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        auto len = ::readlink(path, target, sizeof target - 1);
        if (len > 0 && std::string_view(target, static_cast<std::size_t>(len)) == "/dev/ptmx") ++n;
    }
    return n;
}
}  // namespace

TEST(TerminalPosix, AFailedSpawnClosesTheTerminalItMadeAndKeepsTheCallersHandles) {
    int before = masters_open();
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = on_terminal({"/etc/passwd"});  // exists, not executable: exec fails after the terminal is made
    opt.pass(std::move(theirs), "log");
    tether_test::expect_spawn_fails_keeping_handles(opt, std::make_error_code(std::errc::permission_denied),
                                                    "cannot run '/etc/passwd'");
    EXPECT_EQ(masters_open(), before);
}

TEST(TerminalPosix, StderrToStdoutOnATerminalIsTheSameTerminal) {
    tether::spawn_options opt;
    opt.argv = {"python3", "-c", "import os, sys; print(sys.stderr.isatty(), os.ttyname(1) == os.ttyname(2))"};
    opt.out = tether::stdio::terminal();
    opt.err = tether::stdio::to_stdout();
    auto c = tether::spawn(std::move(opt));
    auto t = c.take_terminal();
    EXPECT_EQ(read_to_eof(t), "True True\r\n");
    EXPECT_TRUE(c.wait().success());
}

TEST(TerminalPosix, ResizeAfterCloseIsClosedAndCloseHangsTheChildUp) {
    auto c = tether::spawn(on_terminal({"/bin/sh", "-c", "read x"}));
    auto t = c.take_terminal();
    t.close();
    EXPECT_FALSE(t);
    std::error_code ec;
    t.resize(100, 30, ec);
    EXPECT_EQ(ec, tether::errc::closed);
    auto st = c.wait_or_kill(20s);  // SIGHUP from the hang-up, not our kill
    EXPECT_TRUE(st.signalled() && st.code == SIGHUP) << st.describe();
}

// The tied forms of the reads (tether/tied.hpp) and a tied poller end work on a terminal as on a
// pipe: the child side held by a grandchild ends them with held_open, naming it.
TEST(TerminalPosix, TiedChunkReaderForwardAndPollerEndWithHeldOpen) {
    auto spawn_holder = [] {
        return tether::spawn(on_terminal({"/bin/sh", "-c", "trap '' HUP; sleep 100 & " + until_exec + "echo pid=$!"}));
    };
    std::vector<std::int64_t> sleepers;
    auto sleeper_of = [&](const std::string& text) {
        if (contains(text, "pid=")) sleepers.push_back(std::stoll(text.substr(text.find("pid=") + 4)));
    };
    {
        auto c = spawn_holder();
        auto t = c.take_terminal();
        tether::tied_chunk_reader reader(t.output(), c, 300ms);
        std::error_code ec;
        std::string text;
        for (auto chunk = reader.next(ec); !chunk.empty(); chunk = reader.next(ec))
            text.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
        EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
        EXPECT_TRUE(contains(reader.held_by(), "`sleep 100`")) << reader.held_by();
        sleeper_of(text);
    }
    {
        auto c = spawn_holder();
        auto t = c.take_terminal();
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        std::error_code ec;
        std::string who;
        tether::forward(t.output(), theirs.borrow(), c, 300ms, ec, who);
        EXPECT_EQ(ec, tether::errc::held_open) << ec.message();
        EXPECT_TRUE(contains(who, "`sleep 100`")) << who;
        theirs.reset();
        sleeper_of(tether::read_to_end(ours.borrow()));
    }
    {
        auto c = spawn_holder();
        auto t = c.take_terminal();
        tether::poller p;
        p.add(t.output(), tether::interest::read, 9, c, 300ms);
        std::vector<tether::poll_event> events;
        std::string text, held_by;
        auto until = std::chrono::steady_clock::now() + 20s;
        while (held_by.empty() && std::chrono::steady_clock::now() < until) {
            p.wait(events, 5s);
            for (auto& e : events) {
                if (e.what == tether::poll_event::kind::held_open) held_by = e.held_by;
                char buf[256];
                std::error_code ec;
                auto n = tether::try_read(t.output(), std::as_writable_bytes(std::span(buf)), ec);
                if (!ec) text.append(buf, n);
            }
        }
        EXPECT_TRUE(contains(held_by, "`sleep 100`")) << held_by;
        sleeper_of(text);
    }
    EXPECT_EQ(sleepers.size(), 3u);
    for (auto pid : sleepers) tether_test::end_if_running(pid);
}
