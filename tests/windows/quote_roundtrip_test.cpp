// Windows only: the quoting rules against the real parsers. CommandLineToArgvW in-process for
// 10,000 random argv lists (no spawning), then one child per parser family: the MinGW/MSVC C
// runtime's argv (main's argv in the role) and CommandLineToArgvW on the child's own
// GetCommandLineW, both with Unicode arguments.
#include "support/harness.hpp"
#include "detail/quote.hpp"
#include "windows/win.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <shellapi.h>

namespace {

// Splits a command line with the shell's parser; UTF-8 out.
std::vector<std::string> command_line_to_argv(const std::wstring& line) {
    int argc = 0;
    LPWSTR* argv = ::CommandLineToArgvW(line.c_str(), &argc);
    std::vector<std::string> out;
    if (argv == nullptr) return out;
    for (int i = 0; i < argc; ++i) out.push_back(tether::detail::narrow(argv[i]));
    ::LocalFree(argv);
    return out;
}

// Random argument drawn from the characters that matter to the parsers, plus some Unicode.
std::string random_argument(std::mt19937& rng) {
    static const char* pieces[] = {"\\", "\\", "\"", " ", "\t", "a", "b", "-", "=", "\\\"",
                                   "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "%", "^", "&", "'", "*",
                                   // fullwidth quote and backslash, ideographic space, Cyrillic
                                   "\xef\xbc\x82", "\xef\xbc\xbc", "\xe3\x80\x80", "\xd0\xbf"};
    std::uniform_int_distribution<int> len(0, 12);
    std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1);
    std::string s;
    for (int n = len(rng); n > 0; --n) s += pieces[pick(rng)];
    return s;
}

}  // namespace

TEST(WindowsQuote, RoundTripThroughCommandLineToArgvW) {
    std::mt19937 rng(20240409);  // fixed seed: a failure is reproducible
    std::uniform_int_distribution<int> count(0, 8);
    int checked = 0;
    for (int i = 0; i < 10000; ++i) {
        std::vector<std::string> argv{"C:\\Program Files\\x\\prog.exe"};
        for (int n = count(rng); n > 0; --n) argv.push_back(random_argument(rng));
        std::string line, what;
        ASSERT_FALSE(tether::detail::windows_command_line(argv, line, what)) << what;
        auto back = command_line_to_argv(tether::detail::widen(line));
        ASSERT_EQ(back, argv) << "command line: " << line;
        ++checked;
    }
    EXPECT_EQ(checked, 10000);
}

TETHER_CHILD_ROLE(print_argv_crt) {
    // main()'s argv, split by the C runtime (ANSI code page): ASCII arguments only.
    for (const auto& a : args) std::printf("%s\n", a.c_str());
    return 0;
}

TETHER_CHILD_ROLE(print_argv_shell) {
    // The child's own command line through CommandLineToArgvW, UTF-8 out: Unicode survives.
    auto all = command_line_to_argv(::GetCommandLineW());
    std::string out;
    for (std::size_t i = 3; i < all.size(); ++i) out += all[i] + "\n";  // skip exe --role name
    tether::write_all(tether::borrowed_handle(::GetStdHandle(STD_OUTPUT_HANDLE)), out);
    return 0;
}

namespace {
std::string run_and_collect(const char* role, const std::vector<std::string>& args) {
    auto opt = tether_test::role_options(role, args);
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto text = tether::take_stdout_text(c);
    EXPECT_TRUE(c.wait().success());
    std::erase(text, '\r');
    return text;
}
std::string joined(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args) s += a + "\n";
    return s;
}
}  // namespace

TEST(WindowsQuote, CRuntimeSplitsLikeCommandLineToArgvW) {
    std::vector<std::string> hard = {"", " ", "a b", "\"", "\\\"", "\\\\\"", "a\\\\b", "end\\", "end\\\\",
                                     "sp end\\", "\"\"", "a\"b\"c", "\\\\server\\share", "%x%", "tab\tx"};
    EXPECT_EQ(run_and_collect("print_argv_crt", hard), joined(hard));
}

TEST(WindowsQuote, UnicodeArgumentsReachTheChild) {
    std::vector<std::string> args = {"caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x98\x80\\\"", "\xd0\xbf\xd1\x80"};
    EXPECT_EQ(run_and_collect("print_argv_shell", args), joined(args));
}

namespace {
// What GetCommandLineA would make of `w`: the ANSI code page with best-fit mapping.
std::string best_fit_ansi(const std::wstring& w) {
    char buf[64] = {};
    int n = ::WideCharToMultiByte(CP_ACP, 0, w.c_str(), static_cast<int>(w.size()), buf, sizeof buf, nullptr, nullptr);
    return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}
}  // namespace

TEST(WindowsQuote, WorstFitArgumentsAreRefusedNamingThem) {
    // U+FF02 and U+FF3C: a narrow main() (the role's, MinGW's CRT) would see '"' and '\\' where
    // the caller passed letters, and split "x<FF02> --evil <FF02>" into other arguments.
    const std::string evil = "x\xef\xbc\x82 --evil \xef\xbc\x82\xef\xbc\xbc";
    std::string mapped = best_fit_ansi(L"\xFF02\xFF3C");
    if (::GetACP() == CP_UTF8 || mapped != "\"\\") {
        std::printf("NOTE: ANSI code page %u maps U+FF02 U+FF3C to '%s', not '\"\\' (no best-fit mapping here;"
                    " wine's tables may lack it): the refusal is checked in Quote.NarrowConversion*; here the"
                    " argument must reach a wide child intact\n",
                    ::GetACP(), mapped.c_str());
        EXPECT_EQ(run_and_collect("print_argv_shell", {evil}), joined({evil}));
        return;
    }
    std::error_code ec;
    auto c = tether::spawn(tether_test::role_options("print_argv_crt", {evil}), ec);
    EXPECT_EQ(ec, tether::errc::unsafe_argument);
    EXPECT_FALSE(c);
    try {
        (void)tether::spawn(tether_test::role_options("print_argv_crt", {evil}));
        ADD_FAILURE() << "spawned";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find(evil), std::string::npos) << e.what();
    }
    // Non-ASCII that converts without inventing parser characters still goes through.
    std::vector<std::string> fine = {"caf\xc3\xa9", "\xd0\xbf\xd1\x80 x"};
    EXPECT_EQ(run_and_collect("print_argv_shell", fine), joined(fine));
}

TEST(WindowsQuote, BestFitOptionCharactersAreRefusedNamingThem) {
    // U+2215 (division slash) and U+FF0D (fullwidth hyphen-minus) have no place in most ANSI code
    // pages; best-fit mapping makes them '/' and '-', so a narrow main() would be given "/c" and
    // "--help", options the caller never passed (the CVE-2024-4577 pattern).
    struct attempt {
        std::string arg;
        std::wstring ch;
        const char* name;
        const char* becomes;
    };
    const attempt attempts[] = {{"\xe2\x88\x95" "c", L"\x2215", "U+2215", "/"},
                                {"\xef\xbc\x8d\xef\xbc\x8dhelp", L"\xFF0D", "U+FF0D", "-"}};
    for (const auto& a : attempts) {
        if (::GetACP() == CP_UTF8 || best_fit_ansi(a.ch) != a.becomes) {
            std::printf("NOTE: ANSI code page %u maps %s to '%s', not '%s': checked by the code page tables of "
                        "WindowsQuote.BestFitTable* instead\n",
                        ::GetACP(), a.name, best_fit_ansi(a.ch).c_str(), a.becomes);
            continue;
        }
        try {
            auto text = run_and_collect("print_argv_crt", {a.arg});
            ADD_FAILURE() << "spawned; the narrow child saw: " << text;
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), tether::errc::unsafe_argument) << e.what();
            EXPECT_NE(std::string(e.what()).find(a.arg), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(a.name), std::string::npos) << e.what();
        }
    }
}

TEST(WindowsQuote, BestFitTablePerCodePage) {
    // The real conversion tables (WideCharToMultiByte, best fit on): each row's character becomes
    // ASCII punctuation in that ANSI code page, so an argument holding it is refused, naming it.
    struct row {
        unsigned cp;
        std::string arg;
        std::wstring ch;
        const char* name;
        const char* becomes;
    };
    const row rows[] = {
        {932, "\xc2\xad" "d", L"\x00AD", "U+00AD", "-"},   {932, "C:\xc2\xa5x", L"\x00A5", "U+00A5", "\\"},
        {936, "\xc2\xad" "x", L"\x00AD", "U+00AD", "-"},   {950, "\xc2\xad" "x", L"\x00AD", "U+00AD", "-"},
        {949, "\xe2\x82\xa9", L"\x20A9", "U+20A9", "\\"},  {1252, "\xe2\x88\x95" "c", L"\x2215", "U+2215", "/"},
        {1252, "\xef\xbc\x8dv", L"\xFF0D", "U+FF0D", "-"}, {1252, "\xef\xbc\x9cx", L"\xFF1C", "U+FF1C", "<"},
        {1252, "x\xef\xbc\x9e", L"\xFF1E", "U+FF1E", ">"}, {1252, "a\xef\xbc\x82", L"\xFF02", "U+FF02", "\""},
        {1250, "\xe2\x88\x92x", L"\x2212", "U+2212", "-"}, {1251, "\xef\xbc\x8f" "c", L"\xFF0F", "U+FF0F", "/"},
        {874, "\xef\xbc\x9e", L"\xFF1E", "U+FF1E", ">"},   {437, "\xe2\x80\xb9x", L"\x2039", "U+2039", "<"},
    };
    int checked = 0;
    for (const auto& r : rows) {
        char buf[8] = {};
        int n = ::WideCharToMultiByte(r.cp, 0, r.ch.c_str(), static_cast<int>(r.ch.size()), buf, sizeof buf, nullptr,
                                      nullptr);
        if (std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) != r.becomes) {
            std::printf("NOTE: code page %u maps %s to '%s' here, not '%s' (no such best fit in this system's "
                        "table): row skipped\n",
                        r.cp, r.name, buf, r.becomes);
            continue;
        }
        std::string what;
        EXPECT_EQ(tether::detail::check_best_fit({"prog", r.arg}, r.cp, what), tether::errc::unsafe_argument)
            << r.cp << " " << r.name;
        EXPECT_NE(what.find(r.arg), std::string::npos) << what;
        EXPECT_NE(what.find(r.name), std::string::npos) << what;
        EXPECT_NE(what.find(std::string("'") + r.becomes + "'"), std::string::npos) << what;
        ++checked;
    }
    EXPECT_GT(checked, 0) << "no row's mapping holds on this system";
    // What each code page has, or maps to letters or to its default character, passes.
    std::string what;
    EXPECT_FALSE(tether::detail::check_best_fit({"caf\xc3\xa9", "\xc5\x81\xc3\xb3" "d\xc5\xba"}, 1252, what)) << what;
    EXPECT_FALSE(tether::detail::check_best_fit({"\xc5\x81\xc3\xb3" "d\xc5\xba"}, 1250, what)) << what;
    EXPECT_FALSE(tether::detail::check_best_fit({"\xe6\x97\xa5\xe6\x9c\xac \xef\xbc\x82x\xef\xbc\x82"}, 932, what))
        << what;
    EXPECT_FALSE(tether::detail::check_best_fit({"\xf0\x9f\x98\x80 \xe4\xb8\xad"}, 1252, what)) << what;
    EXPECT_FALSE(tether::detail::check_best_fit({"\xc2\xad" "d", "\xe2\x88\x95" "c"}, CP_UTF8, what)) << what;
}
