// `tether demo`: the story of .NET's DisposeLocalCopyOfClientHandle, told by real processes.
//
// The parent creates a pipe, starts this program again as `tether demo-child HANDLE` with a copy
// of the client (write) end, and at each step counts the copies of each end with
// tether::holders() — on our own PID and on the child's. Part 1 disposes of the local copy and
// end-of-file arrives; part 2 forgets it, proves with a bounded wait that end-of-file does not
// come, lets holders() name the stuck copy, disposes of it, and end-of-file arrives at once;
// part 3 shows that tether::spawn closes the local copy by itself. Part 4 runs part 2's bug in a
// real .NET 10 program (tests/dotnet10, where the .NET SDK was found at build time) whose child is
// `tether demo-child`, and names its stuck copy with holders(); where it cannot, it says so.
//
// On Windows (detected at run time: the kernel counts each end's handles) the same story is told
// with Win32 handles: each end's copies are counted by the kernel's
// handle count (tether::open_handle_count, NtQueryObject), each process names its own handle
// values (the child answers on a report pipe), and the stuck copy of part 2 is named by
// tether::holders() (the system handle table), which its handle count confirms.
#include "commands.hpp"

#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace tether_cli {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Everything is flushed at once, so the parent's lines never interleave with a child's.
void say(const std::string& text) {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
}

std::int64_t our_pid() { return tether::this_process_id(); }

// The handle value for holders(): a descriptor number, or a HANDLE's value.
std::int64_t fd_of(tether::borrowed_handle h) { return tether::handle_to_integer(h.get()); }

// True where the kernel counts each end's handles (Windows): the story is told with handle
// counts, and holders() names the stuck copy in part 2; false on Linux, where holders() tells
// every step.
bool handle_counts() {
    auto [r, w] = tether::make_pipe();
    return tether::open_handle_count(r).has_value();
}

std::string copies_word(std::size_t n) { return std::to_string(n) + (n == 1 ? " copy " : " copies"); }

// "this process (PID 100), fd 4", "the child (PID 101), fd 3", "PID 7 `cat`, fd 2".
std::string where(const tether::holder& h) {
    std::string fd = ", fd " + std::to_string(h.handle);
    if (h.rel == tether::relation::self) return "this process (PID " + std::to_string(h.pid) + ")" + fd;
    if (h.rel == tether::relation::child) return "the child (PID " + std::to_string(h.pid) + ")" + fd;
    return "PID " + std::to_string(h.pid) + " `" + h.command + "`" + fd;
}

std::string join(const std::vector<std::string>& parts) {
    std::string s;
    for (const auto& p : parts) s += (s.empty() ? "" : "; ") + p;
    return s.empty() ? "none: every copy is closed" : s;
}

// Counts every copy of both ends of the pipe whose read end `server_end` is in this process.
void show_copies(tether::borrowed_handle server_end) {
    auto report = tether::holders(our_pid(), fd_of(server_end));
    const tether::held_object& pipe = report.objects.at(0);
    std::vector<std::string> readers{"this process (PID " + std::to_string(report.pid) + "), fd " +
                                     std::to_string(pipe.handle)};
    std::vector<std::string> writers;
    for (const auto& h : pipe.others)
        (h.end == tether::object_end::read ? readers : writers).push_back(where(h));
    say("     read end  (server): " + copies_word(readers.size()) + "  " + join(readers) + "\n" +
        "     write end (client): " + copies_word(writers.size()) + "  " + join(writers) + "\n");
}

// The child's own view: which of its descriptors is this pipe (holders on the child's PID).
void show_child_view(const tether::child& c, tether::borrowed_handle server_end) {
    auto ours = tether::holders(our_pid(), fd_of(server_end));
    for (const auto& o : tether::holders(c.pid()).objects)
        if (o.object_id == ours.objects.at(0).object_id)
            say("     (seen from the child, holders(" + std::to_string(c.pid()) + "): its fd " +
                std::to_string(o.handle) + " is the " + tether::to_string(o.end) + " end of pipe " +
                std::to_string(o.object_id) + ")\n");
}

struct started {
    tether::child proc;
    tether::unique_handle go;      ///< closing or writing it lets the child write and exit
    tether::unique_handle report;  ///< Windows story: the child's answers to `?` on `go`
};

// Starts `tether demo-child HANDLE [REPORT]`, giving it `client_end`; the child waits for the go
// signal. With `report`, the child answers each `?` on the go pipe with its handle value and count.
started start_child(tether::unique_handle client_end, bool report = false) {
    auto [go_ours, go_theirs] = tether::make_pipe(tether::direction::out);
    tether::spawn_options opt;
    opt.argv = {tether::current_executable_path(), "demo-child", tether::handle_arg(client_end)};
    opt.pass(std::move(client_end));
    opt.pass(std::move(go_theirs), "go");
    tether::unique_handle report_ours;
    if (report) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        opt.argv.push_back(tether::handle_arg(theirs));
        opt.pass(std::move(theirs));
        report_ours = std::move(ours);
    }
    return {tether::spawn(std::move(opt)), std::move(go_ours), std::move(report_ours)};
}

void let_child_finish(started& c) {
    tether::write_all(c.go, std::string_view("go"));
    c.go.reset();
}

std::string ms_since(clock::time_point t0) {
    return std::to_string(std::chrono::duration_cast<milliseconds>(clock::now() - t0).count()) + " ms";
}

// What the child wrote, without the trailing newline, for quoting.
std::string quoted(std::string text) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return "\"" + text + "\"";
}

}  // namespace

// ---- The story with Win32 handles, where holders() is not supported (Windows). ----
namespace {

std::string handles_word(std::size_t n) { return std::to_string(n) + (n == 1 ? " handle " : " handles"); }

std::string count_or_unknown(std::optional<std::size_t> n) {
    return n ? handles_word(*n) : std::string("? handles (NtQueryObject failed)");
}

// What the child says of its copy of the client end: its handle value and its handle count.
struct child_view {
    std::string handle;
    std::optional<std::size_t> count;
};

// Asks the running child (`?` on the go pipe) for its handle value and count; it answers one line.
std::optional<child_view> ask_child(started& c, milliseconds patience) {
    tether::write_all(c.go, std::string_view("?"));
    std::string line;
    std::byte b[1];
    std::error_code ec;
    while (line.empty() || line.back() != '\n') {
        if (tether::read_for(c.report, b, patience * 10, ec) != 1 || ec) return std::nullopt;
        line += static_cast<char>(b[0]);
    }
    auto space = line.find(' ');
    if (space == std::string::npos) return std::nullopt;
    child_view v{line.substr(0, space), std::nullopt};
    std::string count = line.substr(space + 1, line.size() - space - 2);
    if (count != "?") v.count = static_cast<std::size_t>(std::stoul(count));
    return v;
}

std::string ours_at(tether::borrowed_handle h) {
    return "this process (PID " + std::to_string(our_pid()) + "), handle " + tether::to_handle_string(h);
}

std::string theirs_at(const started& c, const child_view& v) {
    return "the child (PID " + std::to_string(c.proc.pid()) + "), handle " + v.handle;
}

// The read end is always ours; the write end is counted through our copy if we still hold one,
// else through the child's (it measures in its own process), else there is nothing left to ask.
// Pass `c` only while the child runs; false if it did not answer.
[[nodiscard]] bool show_handles(tether::borrowed_handle server_end, tether::borrowed_handle local_copy,
                                started* c, milliseconds patience) {
    say("     read end  (server): " + count_or_unknown(tether::open_handle_count(server_end)) + "  " +
        ours_at(server_end) + "\n");
    std::optional<child_view> theirs;
    if (c && !(theirs = ask_child(*c, patience))) {
        say("   UNEXPECTED: the child did not report its handle\n");
        return false;
    }
    std::vector<std::string> named;
    if (local_copy) named.push_back(ours_at(local_copy));
    if (theirs) named.push_back(theirs_at(*c, *theirs));
    // Assigned step by step: g++ 12 -O2 reports a false -Wmaybe-uninitialized for an optional
    // built by nested conditionals.
    std::optional<std::size_t> count;
    if (local_copy)
        count = tether::open_handle_count(local_copy);
    else if (theirs)
        count = theirs->count;
    if (named.empty()) {
        say("     write end (client): no handle is left to ask (a count needs a handle); the\n"
            "                         end-of-file above says every copy is closed: 0 copies.\n");
        return true;
    }
    say("     write end (client): " + count_or_unknown(count) + "  " + join(named) + "\n");
    return true;
}

void introduction_handles() {
    say("tether demo: the end-of-file that never comes, run for real.\n"
        "\n"
        "A pipe has two ends. Here the parent (the \"server\") reads and a child (the \"client\")\n"
        "writes. The reader sees end-of-file only when EVERY handle to the write end is closed, in\n"
        "every process. Each process that holds a copy holds its own handle, so each copy has\n"
        "to be closed on its own. Here each end is its own kernel object, and at every step\n"
        "below its handles are counted for real by the kernel:\n"
        "tether::open_handle_count() = NtQueryObject(ObjectBasicInformation).HandleCount. The\n"
        "handle values are named by the process that holds them (the child reports its own).\n");
}

}  // namespace

// ---- Part 4: part 2's bug in a real .NET 10 program (tests/dotnet10, cmake/dotnet.cmake).
namespace {

// Empty when the .NET program can run here, else why it cannot.
std::string why_no_dotnet() {
    if (std::string(TETHER_DOTNET_SKIP_REASON) != "") return TETHER_DOTNET_SKIP_REASON;
    std::error_code ec;
    if (!std::filesystem::exists(TETHER_DOTNET_EXECUTABLE, ec))
        return std::string(TETHER_DOTNET_EXECUTABLE) + ", found when tether was built, is gone";
    if (!std::filesystem::exists(TETHER_DOTNET_INTEROP_DLL, ec))
        return std::string(TETHER_DOTNET_INTEROP_DLL) + " is not there";
    return {};
}

// The .NET program's stdout, read line by line, each line echoed indented; bounded.
struct dotnet_lines {
    tether::unique_handle out;
    milliseconds patience;

    // Echoes lines until one starts with `prefix` and returns it; nullopt at end-of-file or
    // after `patience`.
    std::optional<std::string> until(std::string_view prefix) {
        std::string line;
        std::byte b[1];
        std::error_code ec;
        while (tether::read_for(out, b, patience, ec) == 1 && !ec) {
            if (b[0] != std::byte{'\n'}) {
                line += static_cast<char>(b[0]);
                continue;
            }
            say("     .NET: " + line + "\n");
            if (line.rfind(prefix, 0) == 0) return line;
            line.clear();
        }
        if (!line.empty()) say("     .NET: " + line + "\n");
        return std::nullopt;
    }
};

// "holders 4242:35 (...)" -> the PID and the descriptor.
std::optional<std::pair<std::int64_t, std::int64_t>> holders_target(const std::string& line) {
    auto colon = line.find(':');
    auto end = line.find(' ', colon);
    if (colon == std::string::npos || end == std::string::npos) return std::nullopt;
    try {
        return std::pair{std::stoll(line.substr(8, colon - 8)), std::stoll(line.substr(colon + 1, end - colon - 1))};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The .NET program's `forget` command: it starts `tether demo-child`, forgets
// DisposeLocalCopyOfClientHandle(), and waits on its stdin for us to let it dispose.
tether::child start_dotnet_parent(milliseconds wait) {
    tether::spawn_options opt;
    opt.argv = {TETHER_DOTNET_EXECUTABLE, TETHER_DOTNET_INTEROP_DLL, "forget", "--patience-ms",
                std::to_string(wait.count()), "--", tether::current_executable_path(), "demo-child", "{handle}"};
    opt.in = tether::stdio::pipe();
    opt.out = tether::stdio::pipe();
    opt.kill_on_destroy = true;
    return tether::spawn(std::move(opt));
}

// Steps 2 and 3: holders() on the .NET program names its own copy; then it disposes of it.
bool dotnet_holders_then_dispose(tether::child& dotnet, dotnet_lines& lines, const std::string& state) {
    auto target = holders_target(state);
    if (!target) return false;
    say("2. tether::holders(" + std::to_string(target->first) + ", " + std::to_string(target->second) +
        ") on the .NET program says (\"this process\" is the .NET program):\n");
    auto report = tether::holders(target->first, target->second);
    say("     " + report.objects.at(0).verdict + "\n");
    say("3. We let the .NET program call DisposeLocalCopyOfClientHandle():\n");
    auto in = dotnet.take_stdin();
    tether::write_all(in, std::string_view("\n"));
    return lines.until("end-of-file ") && dotnet.wait_or_kill(lines.patience).success();
}

bool part_dotnet(milliseconds patience) {
    say("\nPart 4: the same bug in a real .NET 10 program\n"
        "==============================================\n");
    if (auto why = why_no_dotnet(); !why.empty()) {
        say("Skipped: " + why + ".\n");
        return true;
    }
    auto wait = std::max(patience / 3, milliseconds(100));
    say("1. A C# program (tests/dotnet10, run by `dotnet`) creates an AnonymousPipeServerStream(In,\n"
        "   Inheritable), starts `tether demo-child <GetClientHandleAsString()>` with Process.Start,\n"
        "   and forgets DisposeLocalCopyOfClientHandle(). The child writes and exits; the program\n"
        "   waits " + std::to_string(wait.count()) + " ms for end-of-file:\n");
    tether::child dotnet = start_dotnet_parent(wait);
    dotnet_lines lines{dotnet.take_stdout(), patience * 20};
    auto state = lines.until("holders ");
    if (!state || !dotnet_holders_then_dispose(dotnet, lines, *state)) {
        say("   UNEXPECTED: the .NET program did not behave as described\n");
        return false;
    }
    return true;
}

}  // namespace

namespace {

void introduction() {
    say("tether demo: the end-of-file that never comes, run for real.\n"
        "\n"
        "A pipe has two ends. Here the parent (the \"server\") reads and a child (the \"client\")\n"
        "writes. The reader sees end-of-file only when EVERY copy of the write end is closed, in\n"
        "every process. Each process that holds a copy holds its own descriptor, so each copy has\n"
        "to be closed on its own. At every step below the copies are counted for real with\n"
        "tether::holders(), which reads /proc/*/fd and /proc/*/fdinfo.\n");
}

// ---- Steps both stories (holders() on Linux, handle counts on Windows) tell the same way.

// Part 2, step 3: the read that would hang forever, bounded by `patience`.
bool read_times_out(tether::borrowed_handle server_end, milliseconds patience) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", std::chrono::duration<double>(patience).count());
    say("3. The parent reads to end-of-file, but gives up after " + std::string(secs) +
        " s (read_to_end_for):\n");
    std::error_code ec;
    auto t0 = clock::now();
    std::string text = tether::read_to_end_for(server_end, patience, ec);
    if (ec != tether::errc::timed_out) {
        say("   UNEXPECTED: the read ended (" + (ec ? ec.message() : "end-of-file") + ")\n");
        return false;
    }
    say("     read " + quoted(text) + ", then nothing for " + ms_since(t0) + ": timed out, no end-of-file.\n"
        "     The child is gone, yet a program without a time limit would wait here forever,\n"
        "     because one copy of the write end is still open.\n");
    return true;
}

// Part 2, step 5: closing the forgotten copy lets end-of-file through at once.
bool dispose_then_end_of_file(tether::unique_handle& local_copy, tether::borrowed_handle server_end,
                              milliseconds patience) {
    auto t0 = clock::now();
    local_copy.reset();
    std::error_code ec;
    (void)tether::read_to_end_for(server_end, patience * 10, ec);
    if (ec) return false;
    say("     end-of-file arrives at once: after " + ms_since(t0) + ".\n");
    return true;
}

// Part 1, step 4: the child writes and exits; end-of-file is timed from before it finishes.
bool child_finishes_then_end_of_file(started& c, tether::borrowed_handle server_end, milliseconds patience) {
    auto t0 = clock::now();
    let_child_finish(c);
    std::error_code ec;
    std::string text = tether::read_to_end_for(server_end, patience * 10, ec);
    if (ec) {
        say("   UNEXPECTED: no end-of-file (" + ec.message() + ")\n");
        return false;
    }
    say("     read " + quoted(text) + ", then end-of-file after " + ms_since(t0) + "; the child " +
        c.proc.wait().describe() + ".\n");
    return true;
}

// Part 3, step 2: the child has been told to finish; end-of-file is timed from now.
bool end_of_file_after_child(started& c, tether::borrowed_handle server_end, milliseconds patience) {
    std::error_code ec;
    auto t0 = clock::now();
    std::string text = tether::read_to_end_for(server_end, patience * 10, ec);
    if (ec) return false;
    say("     read " + quoted(text) + ", then end-of-file after " + ms_since(t0) + "; the child " +
        c.proc.wait().describe() + ".\n");
    return true;
}

// Part 1: the .NET flow done right, with the local copy disposed of by hand.
bool part_done_right(milliseconds patience) {
    say("\nPart 1: the parent disposes of its local copy of the client end\n"
        "================================================================\n"
        "1. The parent creates the pipe: tether::pipe_server(direction::in).\n");
    tether::pipe_server server(tether::direction::in);
    tether::unique_handle local_copy = server.take_client_handle();
    show_copies(server.handle());

    say("2. The parent starts a child (this program again) and gives it a copy of the client end,\n"
        "   as CreateProcess with inherited handles or fork() would: now there are three handles.\n");
    started c = start_child(local_copy.duplicate());
    show_copies(server.handle());
    show_child_view(c.proc, server.handle());

    say("3. The parent disposes of its local copy of the client end\n"
        "   (AnonymousPipeServerStream.DisposeLocalCopyOfClientHandle() in .NET).\n");
    local_copy.reset();
    show_copies(server.handle());

    say("4. The child writes one line, closes its end and exits; the parent reads to end-of-file.\n");
    if (!child_finishes_then_end_of_file(c, server.handle(), patience)) return false;
    show_copies(server.handle());
    return true;
}

// Part 2: the bug. The parent keeps its local copy; holders() names it.
bool part_forgotten(milliseconds patience) {
    say("\nPart 2: the bug: the parent forgets its local copy\n"
        "==================================================\n"
        "1. Same pipe, same child, but the parent keeps its copy of the client end: what happens\n"
        "   with raw CreateProcess or fork() when DisposeLocalCopyOfClientHandle() is forgotten.\n");
    tether::pipe_server server(tether::direction::in);
    tether::unique_handle local_copy = server.take_client_handle();
    started c = start_child(local_copy.duplicate());
    show_copies(server.handle());

    say("2. The child writes one line, closes its end and exits.\n");
    let_child_finish(c);
    say("     the child " + c.proc.wait().describe() + ".\n");
    show_copies(server.handle());

    if (!read_times_out(server.handle(), patience)) return false;

    say("4. Who holds it? tether::holders(" + std::to_string(our_pid()) + ", " +
        tether::to_handle_string(server.handle()) + ") says:\n");
    auto report = tether::holders(our_pid(), fd_of(server.handle()));
    say("     " + report.objects.at(0).verdict + "\n");

    say("5. The parent disposes of its local copy, as the verdict says.\n");
    return dispose_then_end_of_file(local_copy, server.handle(), patience);
}

// Part 3: tether::spawn takes the client end by rvalue and closes our copy when the child runs.
bool part_tether_way(milliseconds patience) {
    say("\nPart 3: the tether way: nothing to forget\n"
        "=========================================\n"
        "1. spawn_options::pass(server.take_client_handle()) moves the client end into spawn();\n"
        "   a successful spawn closes the parent's copy before it returns. Right after spawn():\n");
    tether::pipe_server server(tether::direction::in);
    started c = start_child(server.take_client_handle());
    show_copies(server.handle());
    say("2. The child writes and exits; the parent reads to end-of-file.\n");
    let_child_finish(c);
    return end_of_file_after_child(c, server.handle(), patience);
}

// Part 1 with Win32 handles: the same steps, counted with open_handle_count().
bool handles_done_right(milliseconds patience) {
    say("\nPart 1: the parent disposes of its local copy of the client end\n"
        "================================================================\n"
        "1. The parent creates the pipe: tether::pipe_server(direction::in).\n");
    tether::pipe_server server(tether::direction::in);
    tether::unique_handle local_copy = server.take_client_handle();
    if (!show_handles(server.handle(), local_copy, nullptr, patience)) return false;

    say("2. The parent starts a child (this program again) and gives it a copy of the client end,\n"
        "   as CreateProcess with inherited handles would: now there are three handles.\n");
    started c = start_child(local_copy.duplicate(), true);
    if (!show_handles(server.handle(), local_copy, &c, patience)) return false;

    say("3. The parent disposes of its local copy of the client end\n"
        "   (AnonymousPipeServerStream.DisposeLocalCopyOfClientHandle() in .NET).\n"
        "   The count is now asked through the child's handle, by the child:\n");
    local_copy.reset();
    if (!show_handles(server.handle(), local_copy, &c, patience)) return false;

    say("4. The child writes one line, closes its end and exits; the parent reads to end-of-file.\n");
    if (!child_finishes_then_end_of_file(c, server.handle(), patience)) return false;
    return show_handles(server.handle(), local_copy, nullptr, patience);
}

// Part 2 with Win32 handles: the bug; holders() names the stuck copy, and its count says so.
bool handles_forgotten(milliseconds patience) {
    say("\nPart 2: the bug: the parent forgets its local copy\n"
        "==================================================\n"
        "1. Same pipe, same child, but the parent keeps its copy of the client end: what happens\n"
        "   with raw CreateProcess when DisposeLocalCopyOfClientHandle() is forgotten.\n");
    tether::pipe_server server(tether::direction::in);
    tether::unique_handle local_copy = server.take_client_handle();
    started c = start_child(local_copy.duplicate(), true);
    if (!show_handles(server.handle(), local_copy, &c, patience)) return false;

    say("2. The child writes one line, closes its end and exits.\n");
    let_child_finish(c);
    say("     the child " + c.proc.wait().describe() + ".\n");
    if (!show_handles(server.handle(), local_copy, nullptr, patience)) return false;

    if (!read_times_out(server.handle(), patience)) return false;

    auto left = tether::open_handle_count(local_copy);
    say("4. Who holds it? tether::holders(" + std::to_string(our_pid()) + ", " +
        tether::to_handle_string(server.handle()) + ") reads the system handle table and says:\n");
    auto report = tether::holders(our_pid(), fd_of(server.handle()));
    say("     " + report.objects.at(0).verdict + "\n"
        "     Its handle count says " + count_or_unknown(left) + "on the write end" +
        (left == std::size_t{1} ? ": the only copy left is this process's own.\n" : ".\n"));
    if (left != std::size_t{1}) return false;

    say("5. The parent disposes of its local copy.\n");
    return dispose_then_end_of_file(local_copy, server.handle(), patience);
}

// Part 3 with Win32 handles: right after spawn() the only handle to the write end is the child's.
bool handles_tether_way(milliseconds patience) {
    say("\nPart 3: the tether way: nothing to forget\n"
        "=========================================\n"
        "1. spawn_options::pass(server.take_client_handle()) moves the client end into spawn();\n"
        "   a successful spawn closes the parent's copy before it returns. Right after spawn():\n");
    tether::pipe_server server(tether::direction::in);
    started c = start_child(server.take_client_handle(), true);
    if (!show_handles(server.handle(), tether::borrowed_handle(), &c, patience)) return false;
    say("2. The child writes and exits; the parent reads to end-of-file.\n");
    let_child_finish(c);
    return end_of_file_after_child(c, server.handle(), patience);
}

void conclusion() {
    say("\nIn short: end-of-file needs every copy of the write end closed. The parent's own copy\n"
        "is the one that is easy to forget; tether::spawn closes it for you, and\n"
        "`tether holders PID` (or tether::holders() in your program) names any copy that is left.\n");
}

void conclusion_handles() {
    say("\nIn short: end-of-file needs every handle to the write end closed. The parent's own copy\n"
        "is the one that is easy to forget; tether::spawn closes it for you, and\n"
        "`tether holders PID` names any copy that is left; open_handle_count() counts them.\n");
}

}  // namespace

CLI::App* add_demo(CLI::App& app, demo_args& args) {
    CLI::App* cmd = app.add_subcommand(
        "demo",
        "Run the story of .NET's DisposeLocalCopyOfClientHandle with real processes: a pipe, a "
        "child that writes, the copies of each end counted at every step, and what happens when "
        "the parent forgets its local copy of the client end. On Windows the copies are "
        "counted with the kernel's handle count of each end, and holders() names the stuck one.");
    cmd->add_option("--timeout", args.timeout_s,
                    "seconds to wait for the end-of-file that does not come, in part 2")
        ->check(CLI::Range(0.1, 60.0))
        ->capture_default_str();
    return cmd;
}

int run_demo(const demo_args& args) {
    auto patience = milliseconds(static_cast<std::int64_t>(args.timeout_s * 1000));
    bool ok = false;
    if (!handle_counts()) {
        introduction();
        ok = part_done_right(patience) && part_forgotten(patience) && part_tether_way(patience) &&
             part_dotnet(patience);
        if (ok) conclusion();
    } else {
        introduction_handles();
        ok = handles_done_right(patience) && handles_forgotten(patience) && handles_tether_way(patience) &&
             part_dotnet(patience);
        if (ok) conclusion_handles();
    }
    if (!ok) {
        std::fputs("tether demo: a step did not behave as described (see above)\n", stderr);
        return exit_failure;
    }
    return exit_ok;
}

CLI::App* add_demo_child(CLI::App& app, demo_child_args& args) {
    CLI::App* cmd = app.add_subcommand("demo-child", "the child role of `tether demo` (internal)");
    cmd->group("");  // hidden from --help
    cmd->add_option("client", args.client, "handle string of the client end")->required();
    cmd->add_option("report", args.report, "handle string of a pipe to answer `?` on (optional)");
    return cmd;
}

int run_demo_child(const demo_child_args& args) {
    // The .NET client shape: validates that the string names a pipe's write end.
    tether::pipe_client client(tether::direction::out, args.client);
    // A child of the .NET program (part 4) gets no "go" pipe (no manifest): it writes at once.
    std::error_code no_go;
    tether::unique_handle go = tether::inherited("go", no_go);
    if (no_go && no_go != tether::errc::no_manifest) throw std::system_error(no_go, "demo-child: the go pipe");
    std::optional<tether::pipe_client> report;
    if (!args.report.empty()) report.emplace(tether::direction::out, args.report);
    // `?` asks for our handle value and count (the Windows story); anything else, or the
    // parent's end-of-file if it died, is the go.
    std::byte signal[1];
    while (go && tether::read(go, signal) == 1 && signal[0] == std::byte{'?'} && report) {
        auto n = tether::open_handle_count(client.handle());
        report->write(tether::to_handle_string(client.handle()) + " " + (n ? std::to_string(*n) : "?") + "\n");
    }
    client.write("hello from the child, PID " + std::to_string(tether::this_process_id()) + "\n");
    client.close();
    return exit_ok;
}

}  // namespace tether_cli
