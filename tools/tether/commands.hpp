// The tether tool's subcommands. Each lives in its own file and has two halves: add_* declares
// its arguments on the CLI11 app, run_* does the work and returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <tether/holders.hpp>

#include <string>
#include <vector>

namespace tether_cli {

/// Exit codes: 0 success, 1 a failure at run time, 2 bad input (usage, a PID that does not
/// exist, a malformed PID:FD, a descriptor that is not a pipe or socket).
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

struct demo_args {
    double timeout_s{1.5};  ///< the bounded wait that proves end-of-file does not come
};
CLI::App* add_demo(CLI::App& app, demo_args& args);
int run_demo(const demo_args& args);

/// The hidden child role of the demo: the tool relaunches itself as `tether demo-child HANDLE [REPORT]`.
struct demo_child_args {
    std::string client;  ///< the client end's handle string (.NET GetClientHandleAsString style)
    std::string report;  ///< optional: a pipe's write end on which to answer the parent's `?`
};
CLI::App* add_demo_child(CLI::App& app, demo_child_args& args);
int run_demo_child(const demo_child_args& args);

struct holders_args {
    std::string target;  ///< "PID" or "PID:FD"
    bool json{false};
};
CLI::App* add_holders(CLI::App& app, holders_args& args);
int run_holders(const holders_args& args);

/// `tether run`'s own exit codes (beside CMD's, 126, 127 and exit_usage).
inline constexpr int exit_timed_out = 124;    ///< --timeout ended CMD (as GNU timeout)
inline constexpr int exit_output_held = 120;  ///< CMD exited; a process it started keeps its output open
inline constexpr int exit_status_lost = 125;  ///< CMD ended, but someone else collected its exit status
inline constexpr int exit_output_gone = 141;  ///< our stdout's (stderr's) reader went away; CMD was ended

struct run_args {
    std::string timeout, grace;         ///< durations as typed (empty: none / the default)
    bool kill_tree{false};
    bool terminal{false};               ///< --terminal: CMD on a terminal of its own
    bool json{false};
    std::vector<std::string> command;  ///< CMD ARGS...
};
CLI::App* add_run(CLI::App& app, run_args& args);
int run_run(const run_args& args);
/// `tether run`'s words as `timeout` or `env` take them: everything from the first word that is
/// not one of run's options is CMD, `--` or not. Returns the command line with a `--` put
/// before CMD where it had none; other command lines unchanged.
std::vector<std::string> with_command_separator(int argc, char** argv);

/// The subcommands, for the message that names an unknown one.
inline constexpr const char* subcommand_names = "demo, holders, run";

/// The report as JSON, schema "tether.holders/1" (docs/holders.md), ending in a newline.
std::string holders_json(const tether::holders_report& report);

}  // namespace tether_cli
