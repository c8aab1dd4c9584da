// Portable table tests of the Windows command-line rules (pure string logic, no spawning): the
// same expectations hold on Linux and Windows. The round trip through the real
// CommandLineToArgvW is in tests/windows/quote_roundtrip_test.cpp.
#include "detail/quote.hpp"

#include <tether/error.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

using tether::detail::quote_windows_argument;

struct quote_case {
    const char* arg;
    const char* quoted;
};

TEST(Quote, ArgumentTable) {
    const quote_case cases[] = {
        {"plain", "plain"},
        {"", "\"\""},
        {"a b", "\"a b\""},
        {"tab\there", "\"tab\there\""},
        {"new\nline", "\"new\nline\""},
        {"\"", "\"\\\"\""},
        {"a\"b", "\"a\\\"b\""},
        {"back\\slash", "back\\slash"},              // no quotes needed: backslashes literal
        {"trailing\\", "trailing\\"},                // ...also at the end when unquoted
        {"trail space\\", "\"trail space\\\\\""},    // doubled before our closing quote
        {"two\\\\ sp", "\"two\\\\ sp\""},            // not before a quote: literal
        {"q\\\"", "\"q\\\\\\\"\""},                  // 1 backslash + quote -> 3 + quote
        {"\\\\\"x", "\"\\\\\\\\\\\"x\""},            // 2 backslashes + quote -> 5 + quote
        {"C:\\Program Files\\", "\"C:\\Program Files\\\\\""},
        {"%PATH%", "%PATH%"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},              // UTF-8 passes through untouched
        // Non-ASCII look-alikes are not parser characters: U+FF02 (fullwidth quote) and U+FF3C
        // (fullwidth backslash) stay literal and unescaped, U+3000 (ideographic space) needs no
        // quotes. (What a narrow child would make of them is check_best_fit_char's job.)
        {"a\xef\xbc\x82" "b", "a\xef\xbc\x82" "b"},
        {"\xef\xbc\xbc\"", "\"\xef\xbc\xbc\\\"\""},    // only the real quote is escaped
        {"a b\xef\xbc\xbc", "\"a b\xef\xbc\xbc\""},        // not doubled before our closing quote
        {"x\xe3\x80\x80y", "x\xe3\x80\x80y"},
        {"\xd0\xbf\xd1\x80\xd0\xb8 \xd0\xb2", "\"\xd0\xbf\xd1\x80\xd0\xb8 \xd0\xb2\""},  // Cyrillic with a blank
    };
    for (const auto& c : cases) EXPECT_EQ(quote_windows_argument(c.arg), c.quoted) << "argument: " << c.arg;
}

TEST(Quote, BestFitToPunctuationIsRefusedNamingTheCharacter) {
    // (argument, character, what best-fit mapping makes of it, code page) as WideCharToMultiByte
    // gives them on Windows. Anything that becomes ASCII other than a letter or digit is refused.
    struct row {
        std::string arg;
        char32_t ch;
        std::string mapped;
        unsigned cp;
        const char* why;
    };
    const row refused[] = {
        {"a\xef\xbc\x82 b", 0xFF02, "\"", 1252, "fullwidth quote -> quote"},
        {"\xef\xbc\xbc", 0xFF3C, "\\", 1252, "fullwidth backslash -> backslash"},
        {"\xe2\x80\x83", 0x2003, " ", 1252, "em space -> blank"},
        {"\xc2\xad" "d", 0x00AD, "-", 932, "soft hyphen -> option dash (CVE-2024-4577)"},
        {"\xe2\x88\x95" "c", 0x2215, "/", 1252, "division slash -> switch slash"},
        {"\xef\xbc\x9cx\xef\xbc\x9e", 0xFF1C, "<", 1252, "fullwidth less-than -> redirection"},
        {"x\xef\xbc\x9e", 0xFF1E, ">", 874, "fullwidth greater-than -> redirection"},
        {"\xc2\xa5", 0x00A5, "\\", 932, "yen sign -> backslash"},
        {"\xef\xbc\x8e\xef\xbc\x8e", 0xFF0E, ".", 1250, "fullwidth full stop -> path dot"},
        {"\xef\xbc\x8a", 0xFF0A, "*", 1251, "fullwidth asterisk -> wildcard"},
    };
    for (const auto& r : refused) {
        std::string what;
        EXPECT_EQ(tether::detail::check_best_fit_char(r.arg, r.ch, r.mapped, r.cp, what), tether::errc::unsafe_argument)
            << r.why;
        EXPECT_NE(what.find(r.arg), std::string::npos) << r.why << ": " << what;
        EXPECT_NE(what.find(std::to_string(r.cp)), std::string::npos) << r.why << ": " << what;
        EXPECT_NE(what.find("'" + r.mapped + "'"), std::string::npos) << r.why << ": " << what;
        char name[16];
        std::snprintf(name, sizeof name, "U+%04X", static_cast<unsigned>(r.ch));
        EXPECT_NE(what.find(name), std::string::npos) << r.why << ": " << what;
    }
    // Harmless: a letter for a letter, a character the code page has (non-ASCII bytes, also
    // two of them), or none at all (the default character).
    const row passed[] = {{"\xc5\x81", 0x0141, "L", 1252, "L with stroke -> L"},
                          {"\xc3\xa9", 0x00E9, "\xe9", 1252, "e acute, in the code page"},
                          {"\xef\xbc\x82", 0xFF02, "\x81\x68", 932, "fullwidth quote, in code page 932"},
                          {"\xe4\xb8\xad", 0x4E2D, "", 1252, "no mapping: the default character"}};
    for (const auto& r : passed) {
        std::string what;
        EXPECT_FALSE(tether::detail::check_best_fit_char(r.arg, r.ch, r.mapped, r.cp, what)) << r.why << ": " << what;
    }
}

TEST(Quote, ProgramIsQuotedOnlyForBlanksAndRefusesQuotes) {
    std::string out, what;
    EXPECT_FALSE(tether::detail::quote_windows_program("C:\\x\\prog.exe", out, what));
    EXPECT_EQ(out, "C:\\x\\prog.exe");
    EXPECT_FALSE(tether::detail::quote_windows_program("C:\\Program Files\\p.exe", out, what));
    EXPECT_EQ(out, "\"C:\\Program Files\\p.exe\"");
    EXPECT_FALSE(tether::detail::quote_windows_program("C:\\dir with space\\", out, what));
    EXPECT_EQ(out, "\"C:\\dir with space\\\"");  // no escapes in the first token
    auto ec = tether::detail::quote_windows_program("a\"b", out, what);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
    EXPECT_NE(what.find("a\"b"), std::string::npos) << what;
}

TEST(Quote, CommandLineJoinsWithSpaces) {
    std::string out, what;
    ASSERT_FALSE(tether::detail::windows_command_line({"p", "a b", "", "c"}, out, what));
    EXPECT_EQ(out, "p \"a b\" \"\" c");
    ASSERT_FALSE(tether::detail::windows_command_line({}, out, what));
    EXPECT_EQ(out, "");
}

TEST(Quote, BatchFileDetection) {
    using tether::detail::is_batch_file;
    EXPECT_TRUE(is_batch_file("run.bat"));
    EXPECT_TRUE(is_batch_file("C:\\x\\RUN.CMD"));
    EXPECT_TRUE(is_batch_file("run.bat. . "));  // Windows strips trailing dots and spaces
    EXPECT_TRUE(is_batch_file("run.Bat"));
    EXPECT_FALSE(is_batch_file("run.exe"));
    EXPECT_FALSE(is_batch_file("bat"));
    EXPECT_FALSE(is_batch_file("run.batch"));
    EXPECT_FALSE(is_batch_file(""));
}

TEST(Quote, BatchArgumentsThatCmdWouldInterpretAreRefused) {
    const char* unsafe[] = {"\"",  "a\"b", "%PATH%", "100%", "!x!", "a^b", "a&calc", "a|b", "<in",
                            ">out", "(x)", "x)",    "line\nbreak", "cr\rx", "trailing\\"};
    for (const char* arg : unsafe) {
        std::string what;
        auto ec = tether::detail::check_batch_argument(arg, what);
        EXPECT_EQ(ec, tether::errc::unsafe_argument) << "argument: " << arg;
        EXPECT_NE(what.find("argument '"), std::string::npos) << what;
    }
    std::string with_nul("a\0b", 3), what;
    EXPECT_EQ(tether::detail::check_batch_argument(with_nul, what), tether::errc::unsafe_argument);
    const char* safe[] = {"", "plain", "a b", "a,b;c=d", "C:\\dir\\file.txt", "caf\xc3\xa9", "-x", "a\\b"};
    for (const char* arg : safe) {
        std::string w;
        EXPECT_FALSE(tether::detail::check_batch_argument(arg, w)) << "argument: " << arg << ": " << w;
    }
}

TEST(Quote, BatchCommandLine) {
    std::string out, what;
    ASSERT_FALSE(tether::detail::batch_command_line("C:\\Windows\\system32\\cmd.exe", "C:\\t\\x.bat",
                                                   {"a", "b c", "", "d,e"}, out, what))
        << what;
    EXPECT_EQ(out, "C:\\Windows\\system32\\cmd.exe /d /e:ON /v:OFF /s /c \"\"C:\\t\\x.bat\" a \"b c\" \"\" \"d,e\"\"");
    auto ec = tether::detail::batch_command_line("cmd.exe", "C:\\t\\x.bat", {"ok", "&calc"}, out, what);
    EXPECT_EQ(ec, tether::errc::unsafe_argument);
    EXPECT_NE(what.find("&calc"), std::string::npos) << what;
    ec = tether::detail::batch_command_line("cmd.exe", "C:\\100%\\x.bat", {}, out, what);
    EXPECT_EQ(ec, tether::errc::unsafe_argument);
    EXPECT_NE(what.find("C:\\100%\\x.bat"), std::string::npos) << what;
}
