// libFuzzer target: the Windows argument quoting (src/quote.cpp, portable) as a round-trip
// property. The input is split at 0x01 bytes into argv (NUL bytes dropped: spawn refuses them
// before quoting); whatever windows_command_line() accepts must split back, by the
// CommandLineToArgvW rules (tests/support/command_line_rules.hpp), into exactly the same argv. A
// program name with '"' must be refused, and nothing else.
#include "support/command_line_rules.hpp"
#include "detail/quote.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> argv(1);
    for (std::size_t i = 0; i < size; ++i) {
        char c = static_cast<char>(data[i]);
        if (c == '\x01') argv.emplace_back();
        else if (c != '\0') argv.back() += c;
    }
    std::string line, what;
    auto ec = tether::detail::windows_command_line(argv, line, what);
    bool quote_in_program = argv[0].find('"') != std::string::npos;
    if (ec) {
        if (!quote_in_program || what.empty()) std::abort();  // refused for no reason given
        return 0;
    }
    if (quote_in_program) std::abort();
    if (tether_test::command_line_to_argv_rules(line) != argv) std::abort();
    // One argument on its own, as quote_windows_argument writes it after any program.
    if (argv.size() > 1) {
        auto back = tether_test::command_line_to_argv_rules("p " + tether::detail::quote_windows_argument(argv[1]));
        if (back.size() != 2 || back[1] != argv[1]) std::abort();
    }
    return 0;
}
