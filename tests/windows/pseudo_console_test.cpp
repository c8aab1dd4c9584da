// Windows only: the pseudo console engine (src/windows/pseudo_console.hpp): children started on
// a terminal by spawn() (stdio::terminal(), the engine under tether::terminal), their output
// read through the relay, the session's end (the child's exit, or close()) reaching end-of-file
// after every byte; and the engine's own calls (create, resize, watch) driven directly.
//
// Under wine 8 a child's std handles are not the console's: the roles below open CONOUT$ and
// CONIN$ themselves, which works on Windows as well.
#include "support/harness.hpp"
#include "windows/pseudo_console.hpp"
#include "windows/win.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;
using tether::detail::console_size;
using tether::detail::pseudo_console;

namespace {

// The console's own handle for `name` (CONOUT$ or CONIN$); exits the role on failure.
HANDLE open_console(const wchar_t* name) {
    HANDLE h = ::CreateFileW(name, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                             OPEN_EXISTING, 0, nullptr);
    if (h == INVALID_HANDLE_VALUE) std::exit(3);
    return h;
}

void console_write(HANDLE out, const std::string& text) {
    DWORD n = 0;
    if (!::WriteFile(out, text.data(), static_cast<DWORD>(text.size()), &n, nullptr)) std::exit(4);
}

// The control sequences stripped (CSI and OSC), for messages: what a person would have seen.
std::string visible(const std::string& vt) {
    std::string s;
    for (std::size_t i = 0; i < vt.size(); ++i) {
        if (vt[i] != '\x1b') {
            s += vt[i] == '\r' ? ' ' : vt[i];
            continue;
        }
        if (i + 1 < vt.size() && vt[i + 1] == ']') {
            while (i < vt.size() && vt[i] != '\x07') ++i;
            continue;
        }
        ++i;
        while (i + 1 < vt.size() && !(vt[i + 1] >= '@' && vt[i + 1] <= '~' && vt[i + 1] != '[')) ++i;
        ++i;
    }
    return s;
}

// A child on a terminal of its own: the session ends when the child exits.
struct session {
    tether::child child;
    tether::terminal term;
};

session start(tether::spawn_options opt) {
    opt.in = tether::stdio::terminal(80, 25);
    opt.out = tether::stdio::terminal(80, 25);
    opt.err = tether::stdio::terminal(80, 25);
    session s;
    s.child = tether::spawn(std::move(opt));
    s.term = s.child.take_terminal();
    return s;
}

tether::spawn_options command(std::vector<std::string> argv) {
    tether::spawn_options opt;
    opt.argv = std::move(argv);
    return opt;
}

// Reads `h` until `marker` has arrived (bounded to 30 s); everything read so far.
std::string read_until(tether::borrowed_handle h, std::string_view marker) {
    std::string text;
    auto until = std::chrono::steady_clock::now() + 30s;
    std::byte buf[4096];
    while (!tether_test::contains(text, marker) && std::chrono::steady_clock::now() < until) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        std::error_code ec;
        std::size_t n = tether::read_for(h, buf, left, ec);
        if (ec || n == 0) break;
        text.append(reinterpret_cast<const char*>(buf), n);
    }
    return text;
}

bool running_on_wine() {
    HMODULE nt = ::GetModuleHandleW(L"ntdll.dll");
    return nt != nullptr && ::GetProcAddress(nt, "wine_get_version") != nullptr;
}

// What a std handle is, in one letter: n none, c console (character device), p pipe, f file.
char handle_kind(HANDLE h) {
    if (h == nullptr || h == INVALID_HANDLE_VALUE) return 'n';
    switch (::GetFileType(h)) {
        case FILE_TYPE_CHAR: return 'c';
        case FILE_TYPE_PIPE: return 'p';
        case FILE_TYPE_DISK: return 'f';
        default: return '?';
    }
}

DWORD exit_code(tether::child& c) {
    auto st = c.wait_for(30s);
    return st ? static_cast<DWORD>(st->code) : STILL_ACTIVE;
}

}  // namespace

// Writes a marker, reads a line typed into the console, echoes it in brackets (the console
// echoes typed text itself; the brackets tell the child's copy from that one).
TETHER_CHILD_ROLE(console_echo) {
    HANDLE out = open_console(L"CONOUT$");
    HANDLE in = open_console(L"CONIN$");
    console_write(out, "console-ready\r\n");
    char line[256];
    DWORD n = 0;
    if (!::ReadFile(in, line, sizeof line - 1, &n, nullptr)) return 5;
    std::string text(line, n);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    console_write(out, "got[" + text + "]\r\n");
    return 0;
}

// Says through the console what its std handles are (handle_kind).
TETHER_CHILD_ROLE(console_std_types) {
    std::string kinds = {handle_kind(::GetStdHandle(STD_INPUT_HANDLE)), ' ',
                         handle_kind(::GetStdHandle(STD_OUTPUT_HANDLE)), ' ',
                         handle_kind(::GetStdHandle(STD_ERROR_HANDLE))};
    console_write(open_console(L"CONOUT$"), "std[" + kinds + "]\r\n");
    return 0;
}

// Writes args[0] KiB of numbered 64-byte lines to the console, then "flood-done"; sets the
// event named args[1], if given, once args[2] KiB are written.
TETHER_CHILD_ROLE(console_flood) {
    HANDLE out = open_console(L"CONOUT$");
    const long lines = std::stol(args.at(0)) * 1024 / 64;
    const long signal_at = args.size() > 2 ? std::stol(args[2]) * 1024 / 64 : -1;
    char line[80];
    for (long i = 0; i < lines; ++i) {
        if (i == signal_at) {
            HANDLE e = ::OpenEventW(EVENT_MODIFY_STATE, FALSE, tether::detail::widen(args[1]).c_str());
            if (e == nullptr || !::SetEvent(e)) return 6;
            ::CloseHandle(e);
        }
        std::snprintf(line, sizeof line, "line %06ld ................................................\r\n", i);
        console_write(out, line);
    }
    console_write(out, "flood-done\r\n");
    return 0;
}

TEST(PseudoConsole, CmdEchoReachesTheOutputThenEndOfFile) {
    // ">CONOUT$": cmd opens the console itself, which wine 8 needs (StdHandlesAreNotOurs says
    // what wine does with the std handles).
    auto s = start(command({"cmd.exe", "/c", "echo", "hello>CONOUT$"}));
    std::string out = tether::read_to_end_for(s.term.output(), 30s);
    EXPECT_TRUE(tether_test::contains(out, "hello")) << "output: " << visible(out);
    EXPECT_EQ(exit_code(s.child), 0u);
}

TEST(PseudoConsole, StdHandlesAreNotOurs) {
    // Without STARTF_USESTDHANDLES a console child gets copies of our std handles when they
    // are no console's (here: CTest's pipes), and its output never reaches the console.
    auto s = start(tether_test::role_options("console_std_types"));
    std::string out = tether::read_to_end_for(s.term.output(), 30s);
    std::string types = visible(out);
    auto at = types.find("std[");
    ASSERT_NE(at, std::string::npos) << "output: " << types;
    types = types.substr(at + 4, 5);
    EXPECT_EQ(types.find('p'), std::string::npos) << "a std handle of the child is a pipe (ours?): " << types;
    if (running_on_wine() && types == "n n n") {
        std::printf("[ NOTE     ] wine 8 leaves a console child's NULL std handles NULL; Windows replaces "
                    "them with the console's (GetStdHandle): that part is only checked on Windows\n");
    } else {
        EXPECT_EQ(types, "c c c") << "the std handles should be the console's";
    }
}

TEST(PseudoConsole, InputReachesAChildThatOpensTheConsole) {
    auto s = start(tether_test::role_options("console_echo"));
    std::string seen = read_until(s.term.output(), "console-ready");
    ASSERT_TRUE(tether_test::contains(seen, "console-ready")) << "output: " << visible(seen);
    tether::write_all(s.term.input(), "typed-line\r");
    seen += tether::read_to_end_for(s.term.output(), 30s);
    EXPECT_TRUE(tether_test::contains(seen, "got[typed-line]")) << "output: " << visible(seen);
    EXPECT_EQ(exit_code(s.child), 0u);
}

namespace {

// A named event the flood role sets (a name of our own, unguessable enough for a test).
struct named_event {
    std::string name = "tether-console-test-" + std::to_string(::GetCurrentProcessId()) + "-" +
                       std::to_string(::GetTickCount64());
    tether::unique_handle event{::CreateEventW(nullptr, TRUE, FALSE, tether::detail::widen(name).c_str())};
};

// Fails the test (ends the whole process) if not disarmed within 30 s: a hang must not hang
// the suite.
class watchdog {
public:
    explicit watchdog(const char* what) : thread_([this, what] {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, 30s, [this] { return disarmed_; })) {
            std::fprintf(stderr, "watchdog: %s did not return within 30 s\n", what);
            std::fflush(stderr);
            ::TerminateProcess(::GetCurrentProcess(), 97);
        }
    }) {}
    ~watchdog() {
        {
            std::lock_guard lock(mutex_);
            disarmed_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool disarmed_{false};
    std::thread thread_;
};

}  // namespace

TEST(PseudoConsole, CloseReturnsWhileAFloodIsUnread) {
    // The guarantee: close() returns (it drains the console while ClosePseudoConsole runs) and
    // ends the user's output with end-of-file; what nobody had read by then is dropped.
    named_event half_way;
    auto s = start(tether_test::role_options("console_flood", {"1024", half_way.name, "64"}));
    auto out = s.term.output().duplicate();  // the user's own copy, read after the close
    ASSERT_EQ(::WaitForSingleObject(half_way.event.get(), 30000), WAIT_OBJECT_0) << "the flood never got going";
    {
        watchdog dog("terminal::close() with 1 MiB unread");
        s.term.close();
    }
    std::error_code ec;
    std::string text = tether::read_to_end_for(out, 30s, ec);
    EXPECT_FALSE(ec) << "no end-of-file after close(): " << ec.message();
    EXPECT_TRUE(tether_test::contains(text, "line 000000")) << "the output before close() was lost";
    EXPECT_FALSE(tether_test::contains(text, "flood-done"));
    std::printf("[ NOTE     ] %zu bytes of console output were delivered before close()\n", text.size());
    EXPECT_NE(exit_code(s.child), STILL_ACTIVE) << "the child outlived its console";
}

TEST(PseudoConsole, OutputLeftAtTheSessionsEndIsReadAfterIt) {
    // More than the user's pipe holds, read only after the session ended: the relay kept the
    // rest in memory, and delivers every byte, then end-of-file.
    auto s = start(tether_test::role_options("console_flood", {"96"}));
    EXPECT_EQ(exit_code(s.child), 0u);  // the session ends with it; nothing was read yet
    std::string text = tether::read_to_end_for(s.term.output(), 30s);
    EXPECT_TRUE(tether_test::contains(text, "flood-done")) << text.size() << " bytes";
    EXPECT_GT(text.size(), 65536u);
    std::printf("[ NOTE     ] 96 KiB written to the console came out as %zu bytes\n", text.size());
}

TEST(PseudoConsole, EveryTerminalEndsWhileAnotherThreadSpawnsInheritingEverything) {
    // CreatePseudoConsole makes the client ends inheritable for the length of the call: the
    // spawner's children (bInheritHandles=TRUE, no handle list) take copies now and then. Every
    // terminal must still reach end-of-file, and its input must be cut (DisconnectNamedPipe)
    // even while a stranger holds a copy of the console's end.
    std::atomic<bool> done{false};
    std::atomic<int> spawned{0};
    std::thread spawner([&] {
        while (!done) {
            STARTUPINFOW si{};
            si.cb = sizeof si;
            PROCESS_INFORMATION pi{};
            std::wstring cmd = L"cmd.exe /c exit";
            if (!::CreateProcessW(nullptr, cmd.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si, &pi)) continue;
            ::CloseHandle(pi.hThread);
            ::CloseHandle(pi.hProcess);
            ++spawned;
        }
    });
    int reached_eof = 0, input_cut = 0;
    for (int i = 0; i < 40; ++i) {
        auto s = start(command({"cmd.exe", "/c", "exit"}));
        std::error_code ec;
        (void)tether::read_to_end_for(s.term.output(), 30s, ec);
        reached_eof += ec ? 0 : 1;
        if (ec) continue;  // end-of-file comes after the session's end, which cut the input
        (void)tether::write_all(s.term.input(), std::as_bytes(std::span("x", 1)), ec);
        input_cut += ec == tether::errc::peer_gone ? 1 : 0;
    }
    done = true;
    spawner.join();
    std::printf("[ NOTE     ] %d inherit-everything children spawned meanwhile\n", spawned.load());
    EXPECT_EQ(reached_eof, 40);
    EXPECT_EQ(input_cut, 40) << "input written after the session did not fail";
}

TEST(PseudoConsole, ResizeRefusesBadSizesAndNamesWhatTheSystemLacks) {
    std::error_code ec;
    std::string what;
    auto pc = pseudo_console::create({80, 25}, ec, what);
    ASSERT_TRUE(pc) << what;
    struct bad_size { console_size size; const char* named; } bad[] = {
        {{0, 25}, "cols 0"}, {{80, 0}, "rows 0"}, {{32768, 25}, "cols 32768"}, {{80, 40000}, "rows 40000"}, {{-3, 25}, "cols -3"}};
    for (const auto& b : bad) {
        what.clear();
        EXPECT_EQ(pc->resize(b.size, what), tether::errc::invalid_argument) << b.named;
        EXPECT_TRUE(tether_test::contains(what, b.named)) << what;
    }
    what.clear();
    ec = pc->resize({100, 30}, what);
    if (running_on_wine()) {
        EXPECT_EQ(ec, tether::errc::not_supported) << what;
        EXPECT_TRUE(tether_test::contains(what, "ResizePseudoConsole")) << what;
        EXPECT_EQ(pc->size().cols, 80);
        std::printf("[ NOTE     ] wine lacks ResizePseudoConsole, a real resize is not exercised: %s\n", what.c_str());
    } else {
        EXPECT_FALSE(ec) << what << ": " << ec.message();
        EXPECT_EQ(pc->size().cols, 100);
        EXPECT_EQ(pc->size().rows, 30);
    }
    pc->close();
    EXPECT_EQ(pc->resize({100, 30}, what), tether::errc::closed);
}

TEST(PseudoConsole, CreateRefusesSizesNoConsoleHas) {
    struct bad_size { console_size size; const char* named; } bad[] = {
        {{0, 25}, "cols 0"}, {{80, 0}, "rows 0"}, {{32768, 1}, "cols 32768"}, {{1, 65535}, "rows 65535"}};
    for (const auto& b : bad) {
        std::error_code ec;
        std::string what;
        EXPECT_FALSE(pseudo_console::create(b.size, ec, what)) << b.named;
        EXPECT_EQ(ec, tether::errc::invalid_argument) << b.named;
        EXPECT_TRUE(tether_test::contains(what, b.named)) << what;
    }
    std::error_code ec;
    std::string what;
    EXPECT_TRUE(pseudo_console::create({1, 1}, ec, what)) << what;
}

TEST(PseudoConsole, ASecondWatchIsRefusedAndAClosedConsoleHasNothingLeft) {
    std::error_code ec;
    std::string what;
    auto pc = pseudo_console::create({80, 25}, ec, what);
    ASSERT_TRUE(pc) << what;
    EXPECT_FALSE(pc->watch(::GetCurrentProcess(), what));
    EXPECT_EQ(pc->watch(::GetCurrentProcess(), what), tether::errc::invalid_argument);
    pc->close();
    EXPECT_EQ(pc->native(), nullptr) << "no child can be started on it any more";
    EXPECT_FALSE(pc->output());
}

// Writes a marker to the handle whose value is args[0] (spawn's handle_arg placeholder).
TETHER_CHILD_ROLE(console_passed_handle) {
    auto h = reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(std::stoll(args.at(0))));
    DWORD written = 0;
    return ::WriteFile(h, "through-the-handle", 18, &written, nullptr) ? 0 : 7;
}

TEST(PseudoConsole, APassedHandleReachesTheChildAndNoCopyStays) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("console_passed_handle", {tether::handle_arg(theirs)});
    opt.pass(std::move(theirs));
    auto s = start(std::move(opt));  // a successful spawn closed our copy of the child's end
    EXPECT_EQ(tether::read_to_end_for(ours, 30s), "through-the-handle");
    EXPECT_EQ(exit_code(s.child), 0u);
}

TEST(PseudoConsole, TerminalsOnSeveralThreadsEachGetTheirOwnOutput) {
    // CreatePseudoConsole and the launches run concurrently: no terminal sees another's output
    // or waits for another's end.
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t, &good] {
            for (int i = 0; i < 6; ++i) {
                std::string mark = "mark-" + std::to_string(t) + "-" + std::to_string(i);
                try {
                    auto s = start(command({"cmd.exe", "/c", "echo", mark + ">CONOUT$"}));
                    std::string out = tether::read_to_end_for(s.term.output(), 30s);
                    bool own = tether_test::contains(out, mark) && !tether_test::contains(out, "mark-" + std::to_string((t + 1) % 4));
                    good += own ? 1 : 0;
                } catch (const std::exception& e) {
                    std::printf("terminal %s: %s\n", mark.c_str(), e.what());
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(good.load(), 24);
}

// Starts a grandchild on the same console (this binary, console_linger), says its process id,
// and exits.
TETHER_CHILD_ROLE(console_parent) {
    HANDLE out = open_console(L"CONOUT$");
    auto opt = tether_test::role_options("console_linger");
    std::wstring exe = tether::detail::widen(opt.argv[0]);
    std::wstring cmd = L"\"" + exe + L"\" --role console_linger";
    STARTUPINFOW si{};
    si.cb = sizeof si;
    PROCESS_INFORMATION pi{};
    if (!::CreateProcessW(exe.c_str(), cmd.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr, &si, &pi)) return 8;
    console_write(out, "gc-pid=" + std::to_string(pi.dwProcessId) + ";\r\n");
    return 0;
}

// Stays on the console until its input ends (it never gets any).
TETHER_CHILD_ROLE(console_linger) {
    HANDLE in = open_console(L"CONIN$");
    char buf[16];
    DWORD n = 0;
    while (::ReadFile(in, buf, sizeof buf, &n, nullptr) && n > 0) {
    }
    return 0;
}

TEST(PseudoConsole, TheSessionsEndEndsProcessesStillOnTheConsole) {
    auto s = start(tether_test::role_options("console_parent"));
    std::string seen = visible(read_until(s.term.output(), ";"));
    auto at = seen.find("gc-pid=");
    ASSERT_NE(at, std::string::npos) << "output: " << seen;
    auto pid = static_cast<DWORD>(std::stoul(seen.substr(at + 7)));
    tether::unique_handle grandchild(::OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE, FALSE, pid));
    ASSERT_TRUE(grandchild) << "pid " << pid;
    std::error_code ec;
    (void)tether::read_to_end_for(s.term.output(), 30s, ec);  // end-of-file: the session has ended
    ASSERT_FALSE(ec) << ec.message();
    // Windows ends it (ClosePseudoConsole's documentation); under wine 8 its console read fails
    // and it returns. Either way it does not outlive the console.
    DWORD w = ::WaitForSingleObject(grandchild.get(), 30000);
    if (w != WAIT_OBJECT_0) ::TerminateProcess(grandchild.get(), 1);
    EXPECT_EQ(w, WAIT_OBJECT_0) << "a process on the console outlived ClosePseudoConsole";
}
