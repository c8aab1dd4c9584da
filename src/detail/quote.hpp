// Portable, internal: argv -> Windows command line. Pure string logic, so it is table-tested on
// every platform (tests/quote_test.cpp) and round-tripped through CommandLineToArgvW under wine.
//
// A Windows child receives one string; its runtime splits it again. Two parsers matter:
// CommandLineToArgvW and the MSVC C runtime (the rules in "Parsing C++ command-line arguments",
// and Daniel Colascione's "Everyone quotes command line arguments the wrong way", 2011). For
// arguments after the first they agree on: whitespace (space, tab) separates; "..." groups;
// 2n backslashes before a '"' are n backslashes and the quote is syntax; 2n+1 backslashes before
// a '"' are n backslashes and a literal '"'; backslashes not before a '"' are literal.
// The first token (the program) is parsed differently: no escapes; a '"' only toggles quoting.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tether::detail {

/// One argument (not the first), quoted only when needed.
std::string quote_windows_argument(std::string_view arg);

/// The first token of a command line (the program). It cannot hold '"' (the parsers have no
/// escape for it there): errc::invalid_argument, with `what` naming it.
std::error_code quote_windows_program(std::string_view program, std::string& out, std::string& what);

/// The whole command line for argv (argv[0] first). Errors as quote_windows_program.
std::error_code windows_command_line(const std::vector<std::string>& argv, std::string& out,
                                     std::string& what);

/// WorstFit (Orange Tsai and Splitline, 2025): a child with a narrow main() parses
/// GetCommandLineA, the command line converted to the ANSI code page with best-fit mapping, which
/// turns e.g. U+FF02 into '"', U+FF3C into '\\', U+00AD into '-' (code page 932: the
/// CVE-2024-4577 case) and U+2215 into '/'. `ch` is one non-ASCII character of `arg` and
/// `mapped` what best-fit mapping to `code_page` makes of it (empty when the code page has no
/// mapping for it and would use its default character). If `mapped` is ASCII other than letters
/// and digits, the narrow child would see a quote, escape, blank, option dash, switch slash,
/// redirection, wildcard or path separator nobody passed: errc::unsafe_argument, `what` names
/// the argument, the character, what it becomes and the code page.
std::error_code check_best_fit_char(std::string_view arg, char32_t ch, std::string_view mapped, unsigned code_page,
                                    std::string& what);

/// True if Windows would run `program` through cmd.exe: its name ends in .bat or .cmd (any
/// case), ignoring the trailing dots and spaces that Windows strips from file names.
bool is_batch_file(std::string_view program);

/// BatBadBut (CVE-2024-24576 and its siblings): cmd.exe expands %var% and !var! even inside
/// quotes and has no escape for '"', so an argument holding any of  " % ! ^ & | < > ( )  or a
/// line break (or NUL) cannot be passed to a batch file without letting it become a command.
/// A trailing backslash is refused as well: after the batch file's own "%1" it would escape
/// the closing quote for the next program. errc::unsafe_argument, `what` names the argument.
std::error_code check_batch_argument(std::string_view arg, std::string& what);

/// The command line that runs `batch_path` with `args` (argv[1..]) through `cmd_exe`:
///   cmd.exe /d /e:ON /v:OFF /s /c ""C:\path\x.bat" arg "arg with space""
/// (/d: no AutoRun commands; /v:OFF: no delayed expansion; /s: strip the outer quotes only).
/// Every argument and the path are checked as above first.
std::error_code batch_command_line(std::string_view cmd_exe, std::string_view batch_path,
                                   const std::vector<std::string>& args, std::string& out,
                                   std::string& what);

}  // namespace tether::detail
