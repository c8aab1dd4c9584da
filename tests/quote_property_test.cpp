// Portable: the Windows quoting round-trips through the CommandLineToArgvW rules
// (tests/support/command_line_rules.hpp) for 20,000 random argv lists, on every platform; the same
// property is fuzzed by fuzz/quote_fuzz.cpp, and the rules are checked against the real
// CommandLineToArgvW in tests/windows/command_line_rules_test.cpp.
#include "support/command_line_rules.hpp"
#include "detail/quote.hpp"

#include <gtest/gtest.h>

#include <iterator>
#include <random>

namespace {

std::string random_argument(std::mt19937& rng) {
    static const char* pieces[] = {"\\", "\\\\", "\"", "\"\"", " ", "\t", "a", "\n", "\v", "\\\"", "\xc3\xa9", "%", "'"};
    std::uniform_int_distribution<int> len(0, 10);
    std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1);
    std::string s;
    for (int n = len(rng); n > 0; --n) s += pieces[pick(rng)];
    return s;
}

}  // namespace

TEST(QuoteProperty, RandomArgvRoundTripsThroughTheRules) {
    std::mt19937 rng(1313);  // fixed seed: a failure is reproducible
    std::uniform_int_distribution<int> count(0, 6);
    for (int i = 0; i < 20000; ++i) {
        std::vector<std::string> argv{i % 2 == 0 ? "C:\\Program Files\\p.exe" : "p\\"};
        for (int n = count(rng); n > 0; --n) argv.push_back(random_argument(rng));
        std::string line, what;
        ASSERT_FALSE(tether::detail::windows_command_line(argv, line, what)) << what;
        ASSERT_EQ(tether_test::command_line_to_argv_rules(line), argv) << line;
    }
}

TEST(QuoteProperty, TheRulesThemselves) {
    using v = std::vector<std::string>;
    EXPECT_EQ(tether_test::command_line_to_argv_rules(R"("C:\a b\p.exe" x "y z")"), (v{"C:\\a b\\p.exe", "x", "y z"}));
    EXPECT_EQ(tether_test::command_line_to_argv_rules(R"(p a\\\"b c\\"d e" f\\)"), (v{"p", "a\\\"b", "c\\d e", "f\\\\"}));
    EXPECT_EQ(tether_test::command_line_to_argv_rules(R"(p "" "a""b")"), (v{"p", "", "a\"b"}));
    EXPECT_EQ(tether_test::command_line_to_argv_rules("p\t  "), (v{"p"}));
}
