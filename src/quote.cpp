// Portable: argv -> Windows command line, and the batch-file (cmd.exe) refusal rules.
// See detail/quote.hpp for the parsing rules these functions invert.
#include "detail/quote.hpp"

#include <tether/error.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace tether::detail {

namespace {

bool needs_quotes(std::string_view arg) {
    // Space and tab separate arguments; \n and \v are quoted too, as some runtimes split there.
    return arg.empty() || arg.find_first_of(" \t\n\v\"") != std::string_view::npos;
}

std::string shown(std::string_view arg) {
    std::string s;
    for (char c : arg) {
        if (c == '\n') s += "\\n";
        else if (c == '\r') s += "\\r";
        else if (c == '\0') s += "\\0";
        else s += c;
    }
    return s;
}

}  // namespace

std::string quote_windows_argument(std::string_view arg) {
    if (!needs_quotes(arg)) return std::string(arg);
    std::string out = "\"";
    std::size_t backslashes = 0;
    for (char c : arg) {
        if (c == '\\') {
            ++backslashes;
            continue;
        }
        // Backslashes before a quote are doubled, and the quote itself escaped with one more;
        // elsewhere they stay literal.
        out.append(c == '"' ? backslashes * 2 + 1 : backslashes, '\\');
        backslashes = 0;
        out += c;
    }
    out.append(backslashes * 2, '\\');  // they precede our closing quote
    out += '"';
    return out;
}

std::error_code quote_windows_program(std::string_view program, std::string& out, std::string& what) {
    if (program.find('"') != std::string_view::npos) {
        what = "program name '" + std::string(program) + "' contains '\"', which no Windows command line can carry";
        return errc::invalid_argument;
    }
    // No escapes in the first token: quoting is needed only for blanks, and a trailing
    // backslash before the closing quote is harmless there.
    bool quote = program.empty() || program.find_first_of(" \t") != std::string_view::npos;
    out = quote ? "\"" + std::string(program) + "\"" : std::string(program);
    return {};
}

std::error_code windows_command_line(const std::vector<std::string>& argv, std::string& out,
                                     std::string& what) {
    out.clear();
    if (argv.empty()) return {};
    if (auto ec = quote_windows_program(argv[0], out, what)) return ec;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        out += ' ';
        out += quote_windows_argument(argv[i]);
    }
    return {};
}

bool is_batch_file(std::string_view program) {
    while (!program.empty() && (program.back() == '.' || program.back() == ' ')) program.remove_suffix(1);
    if (program.size() < 4) return false;
    std::string ext(program.substr(program.size() - 4));
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".bat" || ext == ".cmd";
}

std::error_code check_batch_argument(std::string_view arg, std::string& what) {
    auto bad = arg.find_first_of(std::string_view("\"%!^&|<>()\r\n\0", 14));
    if (bad != std::string_view::npos) {
        what = "argument '" + shown(arg) + "' cannot be passed to a batch file safely: cmd.exe would interpret '" +
               shown(arg.substr(bad, 1)) + "' (BatBadBut)";
        return errc::unsafe_argument;
    }
    if (!arg.empty() && arg.back() == '\\') {
        what = "argument '" + std::string(arg) +
               "' cannot be passed to a batch file safely: a trailing backslash would escape the quote "
               "that follows %1 in the next program (BatBadBut)";
        return errc::unsafe_argument;
    }
    return {};
}

namespace {
// A best-fit result a narrow parser or program may act on: ASCII that is not a letter or digit.
bool invents_punctuation(std::string_view mapped) {
    if (mapped.empty()) return false;
    bool ascii = std::all_of(mapped.begin(), mapped.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    return ascii && std::any_of(mapped.begin(), mapped.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) == 0; });
}

std::string code_point_name(char32_t ch) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(ch));
    return buf;
}
}  // namespace

std::error_code check_best_fit_char(std::string_view arg, char32_t ch, std::string_view mapped, unsigned code_page,
                                    std::string& what) {
    if (!invents_punctuation(mapped)) return {};
    what = "argument '" + shown(arg) + "' cannot be passed safely: in the ANSI code page (" +
           std::to_string(code_page) + ") best-fit mapping turns " + code_point_name(ch) + " into '" +
           shown(mapped) + "', so a child with a narrow main() would see other arguments or options (WorstFit)";
    return errc::unsafe_argument;
}

std::error_code batch_command_line(std::string_view cmd_exe, std::string_view batch_path,
                                   const std::vector<std::string>& args, std::string& out,
                                   std::string& what) {
    if (batch_path.find_first_of("\"%!") != std::string_view::npos) {
        what = "batch file path '" + std::string(batch_path) + "' holds '\"', '%' or '!', which cmd.exe interprets";
        return errc::unsafe_argument;
    }
    for (const auto& a : args)
        if (auto ec = check_batch_argument(a, what)) return ec;
    if (auto ec = quote_windows_program(cmd_exe, out, what)) return ec;
    out += " /d /e:ON /v:OFF /s /c \"\"" + std::string(batch_path) + "\"";
    for (const auto& a : args) {
        // Nothing cmd.exe expands is left; quotes only keep blanks and ,;= inside one argument.
        bool quote = a.empty() || a.find_first_of(" \t,;=") != std::string::npos;
        out += quote ? " \"" + a + "\"" : " " + a;
    }
    out += '"';
    return {};
}

}  // namespace tether::detail
