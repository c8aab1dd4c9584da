// Windows only: the portable CommandLineToArgvW rules of tests/support/command_line_rules.hpp (what the
// quoting fuzzer and the portable property test rely on) against the real CommandLineToArgvW,
// on 20,000 random command lines — not only the ones our quoting writes. Under wine this
// checks wine's implementation; the rules were written from Microsoft's documentation.
#include "support/command_line_rules.hpp"
#include "windows/win.hpp"

#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <shellapi.h>

namespace {

std::vector<std::string> real_split(const std::string& line) {
    int argc = 0;
    std::wstring wide = tether::detail::widen(line);
    LPWSTR* argv = ::CommandLineToArgvW(wide.c_str(), &argc);
    std::vector<std::string> out;
    if (argv == nullptr) return out;
    for (int i = 0; i < argc; ++i) out.push_back(tether::detail::narrow(argv[i]));
    ::LocalFree(argv);
    return out;
}

}  // namespace

TEST(WindowsCommandLineRules, MatchTheRealCommandLineToArgvW) {
    std::mt19937 rng(4242);
    static const char* pieces[] = {"\\", "\"", " ", "\t", "a", "b", "\\\"", "\"\""};
    std::uniform_int_distribution<int> len(1, 14);
    std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1);
    int differ = 0;
    std::string first;
    for (int i = 0; i < 20000; ++i) {
        // A non-empty program token first: CommandLineToArgvW answers an empty line with the
        // current executable's path, which is not a splitting rule.
        std::string line = i % 2 == 0 ? "\"C:\\p q\\x.exe\" " : "x.exe ";
        for (int n = len(rng); n > 0; --n) line += pieces[pick(rng)];
        if (tether_test::command_line_to_argv_rules(line) != real_split(line) && differ++ == 0) first = line;
    }
    EXPECT_EQ(differ, 0) << "first difference: [" << first << "]";
}
