// `tether run [--timeout D] [--kill-tree] [--grace D] [--terminal] [--json] -- CMD ARGS...`:
// runs CMD so that the caller can never hang on it. CMD's stdout and stderr are pipes of ours,
// forwarded as they come (stdin is inherited), so a background job of CMD that keeps them holds
// our pipe, never the caller's: `tether run -- sh -c 'sleep 100 & echo hi' | cat` returns at
// once. With --terminal all three are a terminal of ours instead, its output forwarded to our
// stdout, with the same guarantees.
#include "commands.hpp"

#include <tether/error.hpp>
#include <tether/run.hpp>

#include "detail/holders_parse.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <string>
#include <system_error>

namespace tether_cli {
namespace {

// "10s", "500ms", "2m", "1.5" (seconds), "0". nullopt for anything else (run() refuses a zero
// --timeout by name; a zero --grace means "do not wait").
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
    double v = 0;
    auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (err != std::errc() || end == text.data() || !(v >= 0) || v > 1e9) return std::nullopt;
    std::string unit(end, text.data() + text.size());
    double scale = unit.empty() || unit == "s" ? 1000.0 : unit == "ms" ? 1.0 : unit == "m" ? 60000.0 : -1;
    if (scale < 0) return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(v * scale + 0.5));
}

// Our own stdout or stderr cannot be written (its reader went away: EPIPE with SIGPIPE
// ignored, as CI runners and supervisors often start us). run() ends CMD when a sink throws.
struct output_gone {
    const char* stream;
    int error;
};

// Each chunk as it comes.
void forward(std::FILE* to, const char* name, std::span<const std::byte> d) {
    if (std::fwrite(d.data(), 1, d.size(), to) != d.size() || std::fflush(to) != 0) throw output_gone{name, errno};
}

// Our exit code for it: 141 (128 + SIGPIPE) for a reader that went away, as a shell reports a
// writer that SIGPIPE ended, silently; any other write error is named.
int report_output_gone(const output_gone& g) {
    if (g.error != EPIPE)
        std::fprintf(stderr, "tether run: cannot write to our %s: %s; CMD was ended\n", g.stream,
                     std::generic_category().message(g.error).c_str());
    return exit_output_gone;
}

int exit_code_of(const tether::exit_status& st) { return st.signalled() ? 128 + st.code : st.code & 0xff; }

std::string json_report(const tether::run_result& r, int code) {
    std::string j = "{\"schema\":\"tether.run/1\",\"exit_code\":" + std::to_string(code);
    j += ",\"status\":";
    j += tether::detail::json_string(r.status.describe());
    j += std::string(",\"timed_out\":") + (r.timed_out ? "true" : "false");
    j += std::string(",\"tree_ended\":") + (r.tree_ended ? "true" : "false");
    j += ",\"stuck\":[";
    for (std::size_t i = 0; i < r.stuck.size(); ++i) {
        const auto& s = r.stuck[i];
        j += i ? ",{\"stream\":" : "{\"stream\":";
        j += tether::detail::json_string(s.stream);
        j += ",\"holders\":[";
        for (std::size_t k = 0; k < s.holders.size(); ++k) {
            j += (k ? "," : "") + std::string("{\"pid\":") + std::to_string(s.holders[k].pid) + ",\"command\":";
            j += tether::detail::json_string(s.holders[k].command);
            j += ",\"handle\":" + std::to_string(s.holders[k].handle) + "}";
        }
        j += "],\"verdict\":";
        j += tether::detail::json_string(s.verdict);
        j += "}";
    }
    return j + "]}\n";
}

}  // namespace

std::vector<std::string> with_command_separator(int argc, char** argv) {
    std::vector<std::string> words(argv, argv + argc);
    if (words.size() < 2 || words[1] != "run") return words;
    for (std::size_t i = 2; i < words.size(); ++i) {
        const auto& w = words[i];
        if (w == "--") return words;
        if (w == "--timeout" || w == "--grace") {
            ++i;  // its value
            continue;
        }
        if (w.rfind("--timeout=", 0) == 0 || w.rfind("--grace=", 0) == 0 || w == "--kill-tree" || w == "--json" ||
            w == "--terminal" || w == "-h" || w == "--help")
            continue;
        if (!w.empty() && w[0] == '-') return words;  // an option of run's we do not know: CLI11 names it
        words.insert(words.begin() + static_cast<std::ptrdiff_t>(i), "--");
        return words;
    }
    return words;
}

CLI::App* add_run(CLI::App& app, run_args& args) {
    CLI::App* cmd = app.add_subcommand(
        "run",
        "Run CMD so that you can never hang on it: its output is forwarded as it comes, its exit "
        "code passed on (128+N for signal N), its process tree ended on --timeout, and when CMD "
        "has exited but a process it started keeps its output open, that process is named on "
        "stderr and tether exits at once.");
    cmd->add_option("--timeout", args.timeout, "end CMD after this long: 10s, 500ms, 2m, or seconds (1.5)");
    cmd->add_option("--grace", args.grace, "after CMD exited, how long its output may stay open (default 200ms)");
    cmd->add_flag("--kill-tree", args.kill_tree,
                  "also end the processes CMD started that keep its output open after it exited "
                  "(its whole tree is ended on --timeout anyway)");
    cmd->add_flag("--terminal", args.terminal,
                  "run CMD on a terminal of 80x24 of its own (a pseudo-terminal, CMD's controlling terminal in a "
                  "new session) instead of pipes: what it shows, stdout and stderr together, goes to our stdout. "
                  "Nothing is typed into it: a CMD that reads its input waits until --timeout");
    cmd->add_flag("--json", args.json, "at the end, print a JSON report on stderr (schema \"tether.run/1\")");
    cmd->add_option("command", args.command, "CMD and its arguments: everything from the first word that is not an option above (or after --)")->required();
    cmd->footer("Exit codes: CMD's own; 128+N if a signal N ended it; " + std::to_string(exit_timed_out) +
                " when --timeout ended it; " + std::to_string(exit_output_held) +
                " when CMD exited but a process it started keeps its output open; " +
                std::to_string(exit_output_gone) + " when our own output's reader went away (CMD is ended); " +
                std::to_string(exit_status_lost) + " when CMD's exit status was collected by someone else; 126 CMD cannot "
                "be run; 127 CMD not found; 2 bad input.");
    return cmd;
}

int run_run(const run_args& args) {
    tether::run_options ro;
    for (auto [text, into, name] : {std::tuple{&args.timeout, &ro.timeout, "--timeout"}, std::tuple{&args.grace, &ro.eof_grace, "--grace"}}) {
        if (text->empty()) continue;
        auto d = parse_duration(*text);
        if (!d) {
            std::fprintf(stderr, "tether run: %s '%s' is not a duration (e.g. 10s, 500ms, 2m, 1.5)\n", name, text->c_str());
            return exit_usage;
        }
        *into = *d;
    }
    ro.kill_tree = args.kill_tree;
    if (args.terminal) ro.terminal = tether::terminal_size{};
    ro.on_stdout = [](std::span<const std::byte> d) { forward(stdout, "stdout", d); };
    if (!args.terminal) ro.on_stderr = [](std::span<const std::byte> d) { forward(stderr, "stderr", d); };
#ifdef SIGCHLD
    // An ignored SIGCHLD, inherited through exec from some supervisors, makes the kernel discard
    // CMD's exit status: we are the application here, so we take the default back.
    std::signal(SIGCHLD, SIG_DFL);
#endif
    tether::spawn_options opt;
    opt.argv = args.command;
    std::error_code ec;
    std::string message;
    tether::run_result r;
    try {
        r = tether::run(std::move(opt), ro, ec, message);
    } catch (const output_gone& g) {
        return report_output_gone(g);
    }
    if (ec && ec != tether::errc::timed_out) {
        std::fprintf(stderr, "tether run: %s: %s\n", message.c_str(), ec.message().c_str());
        if (ec == tether::errc::invalid_argument) return exit_usage;
        if (r.status.how == tether::exit_status::kind::unknown) return exit_status_lost;
        return ec == std::errc::no_such_file_or_directory ? 127 : 126;
    }
    int code = exit_code_of(r.status);
    if (r.timed_out) {
        std::fprintf(stderr, "tether run: %s\n", message.c_str());
        code = exit_timed_out;
    } else if (!r.stuck.empty()) {
        code = exit_output_held;
    }
    for (const auto& s : r.stuck) std::fprintf(stderr, "tether run: %s\n", s.verdict.c_str());
    if (args.json) std::fputs(json_report(r, code).c_str(), stderr);
    return code;
}

}  // namespace tether_cli
