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
/// turns e.g. U+FF02 into '"' and U+FF3C into '\\'. `best_fit` and `exact` are `arg` converted
/// to that code page with best-fit mapping and with WC_NO_BEST_FIT_CHARS. If they differ in the
/// quotes, backslashes or blanks (space, tab) they hold, the narrow child would split or
/// unescape the argument differently from what was asked: errc::unsafe_argument, `what` names
/// the argument and the code page.
std::error_code check_narrow_conversion(std::string_view arg, std::string_view best_fit, std::string_view exact,
                                        unsigned code_page, std::string& what);

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
