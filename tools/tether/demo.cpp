// `tether demo`: the story of .NET's DisposeLocalCopyOfClientHandle, told by real processes.
//
// The parent creates a pipe, starts this program again as `tether demo-child HANDLE` with a copy
// of the client (write) end, and at each step counts the copies of each end with
// tether::holders() — on our own PID and on the child's. Part 1 disposes of the local copy and
// end-of-file arrives; part 2 forgets it, proves with a bounded wait that end-of-file does not
// come, lets holders() name the stuck copy, disposes of it, and end-of-file arrives at once;
// part 3 shows that tether::spawn closes the local copy by itself.
#include "commands.hpp"

#include <tether/tether.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
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

std::string copies_word(std::size_t n) { return std::to_string(n) + (n == 1 ? " copy " : " copies"); }

// "this process (PID 100), fd 4", "the child (PID 101), fd 3", "PID 7 `cat`, fd 2".
std::string where(const tether::holder& h) {
    std::string fd = ", fd " + std::to_string(h.fd);
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
    auto report = tether::holders(our_pid(), server_end.get());
    const tether::held_object& pipe = report.objects.at(0);
    std::vector<std::string> readers{"this process (PID " + std::to_string(report.pid) + "), fd " +
                                     std::to_string(pipe.fd)};
    std::vector<std::string> writers;
    for (const auto& h : pipe.others)
        (h.end == tether::object_end::read ? readers : writers).push_back(where(h));
    say("     read end  (server): " + copies_word(readers.size()) + "  " + join(readers) + "\n" +
        "     write end (client): " + copies_word(writers.size()) + "  " + join(writers) + "\n");
}

// The child's own view: which of its descriptors is this pipe (holders on the child's PID).
void show_child_view(const tether::child& c, tether::borrowed_handle server_end) {
    auto ours = tether::holders(our_pid(), server_end.get());
    for (const auto& o : tether::holders(c.pid()).objects)
        if (o.inode == ours.objects.at(0).inode)
            say("     (seen from the child, holders(" + std::to_string(c.pid()) + "): its fd " +
                std::to_string(o.fd) + " is the " + tether::to_string(o.end) + " end of pipe " +
                std::to_string(o.inode) + ")\n");
}

struct started {
    tether::child proc;
    tether::unique_handle go;  ///< closing or writing it lets the child write and exit
};

// Starts `tether demo-child HANDLE`, giving it `client_end`; the child waits for the go signal.
started start_child(tether::unique_handle client_end) {
    auto [go_ours, go_theirs] = tether::make_pipe(tether::direction::out);
    tether::spawn_options opt;
    opt.argv = {tether::current_executable_path(), "demo-child", tether::handle_arg(client_end)};
    opt.pass(std::move(client_end));
    opt.pass(std::move(go_theirs), "go");
    return {tether::spawn(std::move(opt)), std::move(go_ours)};
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
    auto t0 = clock::now();
    let_child_finish(c);
    std::error_code ec;
    std::string text = tether::read_to_end_for(server.handle(), patience * 10, ec);
    if (ec) {
        say("   UNEXPECTED: no end-of-file (" + ec.message() + ")\n");
        return false;
    }
    say("     read " + quoted(text) + ", then end-of-file after " + ms_since(t0) + "; the child " +
        c.proc.wait().describe() + ".\n");
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

    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", std::chrono::duration<double>(patience).count());
    say("3. The parent reads to end-of-file, but gives up after " + std::string(secs) +
        " s (read_to_end_for):\n");
    std::error_code ec;
    auto t0 = clock::now();
    std::string text = tether::read_to_end_for(server.handle(), patience, ec);
    if (ec != tether::errc::timed_out) {
        say("   UNEXPECTED: the read ended (" + (ec ? ec.message() : "end-of-file") + ")\n");
        return false;
    }
    say("     read " + quoted(text) + ", then nothing for " + ms_since(t0) + ": timed out, no end-of-file.\n"
        "     The child is gone, yet a program without a time limit would wait here forever,\n"
        "     because one copy of the write end is still open.\n");

    say("4. Who holds it? tether::holders(" + std::to_string(our_pid()) + ", " +
        std::to_string(server.handle().get()) + ") says:\n");
    auto report = tether::holders(our_pid(), server.handle().get());
    say("     " + report.objects.at(0).verdict + "\n");

    say("5. The parent disposes of its local copy, as the verdict says.\n");
    t0 = clock::now();
    local_copy.reset();
    text = tether::read_to_end_for(server.handle(), patience * 10, ec);
    if (ec) return false;
    say("     end-of-file arrives at once: after " + ms_since(t0) + ".\n");
    return true;
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
    std::error_code ec;
    auto t0 = clock::now();
    std::string text = tether::read_to_end_for(server.handle(), patience * 10, ec);
    if (ec) return false;
    say("     read " + quoted(text) + ", then end-of-file after " + ms_since(t0) + "; the child " +
        c.proc.wait().describe() + ".\n");
    return true;
}

void conclusion() {
    say("\nIn short: end-of-file needs every copy of the write end closed. The parent's own copy\n"
        "is the one that is easy to forget; tether::spawn closes it for you, and\n"
        "`tether holders PID` (or tether::holders() in your program) names any copy that is left.\n");
}

}  // namespace

CLI::App* add_demo(CLI::App& app, demo_args& args) {
    CLI::App* cmd = app.add_subcommand(
        "demo",
        "Run the story of .NET's DisposeLocalCopyOfClientHandle with real processes: a pipe, a "
        "child that writes, the copies of each end counted at every step, and what happens when "
        "the parent forgets its local copy of the client end. Linux only for now.");
    cmd->add_option("--timeout", args.timeout_s,
                    "seconds to wait for the end-of-file that does not come, in part 2")
        ->check(CLI::Range(0.1, 60.0))
        ->capture_default_str();
    return cmd;
}

int run_demo(const demo_args& args) {
    auto patience = milliseconds(static_cast<std::int64_t>(args.timeout_s * 1000));
    introduction();
    if (!part_done_right(patience) || !part_forgotten(patience) || !part_tether_way(patience)) {
        std::fputs("tether demo: a step did not behave as described (see above)\n", stderr);
        return exit_failure;
    }
    conclusion();
    return exit_ok;
}

CLI::App* add_demo_child(CLI::App& app, demo_child_args& args) {
    CLI::App* cmd = app.add_subcommand("demo-child", "the child role of `tether demo` (internal)");
    cmd->group("");  // hidden from --help
    cmd->add_option("client", args.client, "handle string of the client end")->required();
    return cmd;
}

int run_demo_child(const demo_child_args& args) {
    // The .NET client shape: validates that the string names a pipe's write end.
    tether::pipe_client client(tether::direction::out, args.client);
    tether::unique_handle go = tether::inherited("go");
    std::byte signal[2];
    (void)tether::read(go, signal);  // the parent's go (or its end-of-file if it died)
    client.write("hello from the child, PID " + std::to_string(tether::this_process_id()) + "\n");
    client.close();
    return exit_ok;
}

}  // namespace tether_cli
