// `tether holders PID[:FD] [--json]`: who else holds the pipes and Unix sockets of a process.
#include "commands.hpp"

#include "detail/holders_parse.hpp"

#include <tether/error.hpp>
#include <tether/holders.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <system_error>

namespace tether_cli {
namespace {

// Errors that are about what the user typed get exit code 2; anything else is a failure.
bool is_input_error(const std::error_code& ec) {
    return ec == std::errc::no_such_process || ec == std::errc::bad_file_descriptor ||
           ec == tether::errc::not_a_pipe;
}

}  // namespace

CLI::App* add_holders(CLI::App& app, holders_args& args) {
    CLI::App* cmd = app.add_subcommand(
        "holders",
        "List every pipe and Unix socket (Windows: named pipe end) a process holds, every other "
        "process that holds the same object (PID, command, descriptor or handle, read or write "
        "end, relation), and say in words why end-of-file will or will not arrive. Linux reads "
        "/proc; Windows the system handle table.");
    cmd->add_option("target", args.target,
                    "PID, or PID:FD for a single descriptor (e.g. 4242 or 4242:5); on Windows "
                    "PID:HANDLE, the handle in decimal or as 0x1a4")
        ->required();
    cmd->add_flag("--json", args.json,
                  "print JSON for scripts (schema \"tether.holders/1\", see docs/holders.md)");
    cmd->footer("Processes whose descriptors may not be read (other users' processes, unless run "
                "as root) are counted and named, not skipped.\n"
                "Exit codes: 0 success; 2 a PID that does not exist, a malformed PID:FD, a "
                "descriptor that is not open or not a pipe/socket; 1 anything else (e.g. the "
                "process belongs to another user).");
    return cmd;
}

int run_holders(const holders_args& args) {
    auto t = tether::detail::parse_holders_target(args.target);
    if (!t) {
        std::fprintf(stderr,
                     "tether holders: '%s' is not PID or PID:FD (decimal numbers, e.g. 4242 or 4242:5)\n",
                     args.target.c_str());
        return exit_usage;
    }
    tether::holders_report report;
    try {
        report = t->handle ? tether::holders(t->pid, *t->handle) : tether::holders(t->pid);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "tether holders: %s\n", e.what());
        return is_input_error(e.code()) ? exit_usage : exit_failure;
    }
    std::string out = args.json ? holders_json(report) : tether::describe(report);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return exit_ok;
}

}  // namespace tether_cli
