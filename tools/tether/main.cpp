// The tether command-line tool: parses the command line and hands over to one subcommand.
#include "commands.hpp"

#include <tether/version.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

// A first word that is no option and no subcommand: named, with the ones there are (CLI11
// would only say "A subcommand is required").
bool unknown_subcommand(const std::vector<std::string>& words) {
    if (words.size() < 2 || words[1].empty() || words[1][0] == '-') return false;
    for (const char* known : {"demo", "demo-child", "holders", "run"})
        if (words[1] == known) return false;
    std::fprintf(stderr, "tether: unknown subcommand '%s' (subcommands: %s; see tether --help)\n", words[1].c_str(),
                 tether_cli::subcommand_names);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tether: talk to child processes over pipes whose ends never leak, and find out "
                 "who holds a pipe open when end-of-file never comes.",
                 "tether"};
    app.require_subcommand(1);
    // The library's version (what is running), which a packaged tool shares with its headers.
    app.set_version_flag("--version", std::string("tether ") + tether::library_version());
    app.footer("Run `tether SUBCOMMAND --help` for the details of each.\n"
               "Exit codes: 0 success, 1 failure, 2 bad input.");

    tether_cli::demo_args demo;
    tether_cli::demo_child_args demo_child;
    tether_cli::holders_args holders;
    CLI::App* demo_cmd = tether_cli::add_demo(app, demo);
    CLI::App* demo_child_cmd = tether_cli::add_demo_child(app, demo_child);
    CLI::App* holders_cmd = tether_cli::add_holders(app, holders);
    tether_cli::run_args run;
    CLI::App* run_cmd = tether_cli::add_run(app, run);

    // Each subcommand's --help shows its own footer, not the list of the others.
    for (CLI::App* sub : {demo_cmd, demo_child_cmd, holders_cmd})
        if (sub->get_footer() == app.get_footer()) sub->footer("");

    auto words = tether_cli::with_command_separator(argc, argv);
    if (unknown_subcommand(words)) return tether_cli::exit_usage;
    std::vector<char*> args;
    for (auto& w : words) args.push_back(w.data());
    try {
        app.parse(static_cast<int>(args.size()), args.data());
    } catch (const CLI::ParseError& e) {
        // CLI11 prints help (exit 0) or the error; every usage error is exit code 2.
        return app.exit(e) == 0 ? tether_cli::exit_ok : tether_cli::exit_usage;
    }
    try {
        if (*demo_cmd) return tether_cli::run_demo(demo);
        if (*demo_child_cmd) return tether_cli::run_demo_child(demo_child);
        if (*holders_cmd) return tether_cli::run_holders(holders);
        if (*run_cmd) return tether_cli::run_run(run);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tether: %s\n", e.what());
        return tether_cli::exit_failure;
    }
    return tether_cli::exit_usage;
}
