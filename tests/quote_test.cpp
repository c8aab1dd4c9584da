// Portable table tests of the Windows command-line rules (pure string logic, no spawning): the
// same expectations hold on Linux and Windows. The round trip through the real
// CommandLineToArgvW is in tests/windows/quote_roundtrip_test.cpp.
#include "detail/quote.hpp"

#include <tether/error.hpp>

#include <gtest/gtest.h>

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
        // quotes. (What a narrow child would make of them is check_narrow_conversion's job.)
        {"a\xef\xbc\x82" "b", "a\xef\xbc\x82" "b"},
        {"\xef\xbc\xbc\"", "\"\xef\xbc\xbc\\\"\""},    // only the real quote is escaped
        {"a b\xef\xbc\xbc", "\"a b\xef\xbc\xbc\""},        // not doubled before our closing quote
        {"x\xe3\x80\x80y", "x\xe3\x80\x80y"},
        {"\xd0\xbf\xd1\x80\xd0\xb8 \xd0\xb2", "\"\xd0\xbf\xd1\x80\xd0\xb8 \xd0\xb2\""},  // Cyrillic with a blank
    };
    for (const auto& c : cases) EXPECT_EQ(quote_windows_argument(c.arg), c.quoted) << "argument: " << c.arg;
}

TEST(Quote, NarrowConversionThatAddsParserCharactersIsRefused) {
    // (argument, its best-fit ANSI conversion, its WC_NO_BEST_FIT_CHARS conversion) as
    // WideCharToMultiByte gives them for code page 1252 on Windows.
    std::string what;
    const std::string fw_quote = "a\xef\xbc\x82 b";  // U+FF02 -> '"' with best fit, '?' without
    auto ec = tether::detail::check_narrow_conversion(fw_quote, "a\" b", "a? b", 1252, what);
    EXPECT_EQ(ec, tether::errc::unsafe_argument);
    EXPECT_NE(what.find(fw_quote), std::string::npos) << what;
    EXPECT_NE(what.find("1252"), std::string::npos) << what;
    EXPECT_NE(what.find("WorstFit"), std::string::npos) << what;
    EXPECT_EQ(tether::detail::check_narrow_conversion("\xef\xbc\xbc", "\\", "?", 1252, what),
              tether::errc::unsafe_argument);                          // U+FF3C -> '\\'
    EXPECT_EQ(tether::detail::check_narrow_conversion("\xe2\x80\x83", " ", "?", 1252, what),
              tether::errc::unsafe_argument);                          // U+2003 em space -> ' '
    // Lossy but harmless: letters become other letters or '?', the parser sees the same thing.
    EXPECT_FALSE(tether::detail::check_narrow_conversion("\xc5\x81\xc3\xb3" "d\xc5\xba", "Lodz", "?\xf3" "d?", 1252, what));
    EXPECT_FALSE(tether::detail::check_narrow_conversion("caf\xc3\xa9 \"x\"", "caf\xe9 \"x\"", "caf\xe9 \"x\"", 1252, what));
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
