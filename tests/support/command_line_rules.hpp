// Portable test code: CommandLineToArgvW's splitting rules, so the quoting in src/quote.cpp can
// be round-tripped on every platform and fuzzed (fuzz/quote_fuzz.cpp);
// tests/windows/command_line_rules_test.cpp checks them against the real function.
//
//   argv[0]: if it starts with '"', everything up to the next '"'; else up to a space or tab.
//   Then, per argument (Microsoft, "Parsing C++ command-line arguments", for the backslashes;
//   Raymond Chen, "What's up with the strange treatment of quotation marks and backslashes by
//   CommandLineToArgvW", 2010, for runs of quotes): spaces and tabs outside quotes separate;
//   2n backslashes before '"' give n backslashes and the quote toggles quoting; 2n+1 give n
//   backslashes and a literal '"'; backslashes not before a '"' are literal; in a run of
//   quotes, every third quote is a literal '"' and ends quoting (a quote count of 2 is 0).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tether_test {

inline std::vector<std::string> command_line_to_argv_rules(std::string_view line) {
    std::vector<std::string> argv;
    std::size_t i = 0;
    std::string prog;
    if (!line.empty() && line[0] == '"') {
        for (i = 1; i < line.size() && line[i] != '"'; ++i) prog += line[i];
        if (i < line.size()) ++i;  // the closing quote
    } else {
        for (; i < line.size() && line[i] != ' ' && line[i] != '\t'; ++i) prog += line[i];
    }
    argv.push_back(prog);
    for (;;) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        if (i >= line.size()) return argv;
        std::string arg;
        int quotes = 0;  // 0 outside quotes, 1 inside
        std::size_t backslashes = 0;
        while (i < line.size()) {
            char c = line[i];
            if (quotes == 0 && (c == ' ' || c == '\t')) break;
            if (c == '\\') {
                ++backslashes;
                arg += c;
                ++i;
                continue;
            }
            if (c != '"') {
                backslashes = 0;
                arg += c;
                ++i;
                continue;
            }
            arg.resize(arg.size() - backslashes / 2 - backslashes % 2);  // keep half of them
            if (backslashes % 2 == 1) arg += '"';                       // an escaped quote
            else ++quotes;                                               // a quote of syntax
            backslashes = 0;
            for (++i; i < line.size() && line[i] == '"'; ++i) {
                if (++quotes == 3) {
                    arg += '"';
                    quotes = 0;
                }
            }
            if (quotes == 2) quotes = 0;
        }
        argv.push_back(std::move(arg));
    }
}

}  // namespace tether_test
