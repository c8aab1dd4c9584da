// Windows backend: the command line a spawn passes (spawn_steps.hpp, build_command_line), and
// the WorstFit check of its arguments (win.hpp, check_best_fit): an argument that best-fit
// mapping would change for a narrow main() is refused, not passed.
#include "windows/spawn_steps.hpp"

#include "detail/quote.hpp"
#include "windows/win.hpp"

#include <algorithm>

namespace tether::detail {

namespace {

// What best-fit mapping to `code_page` makes of the one character `ch` (one or two UTF-16
// units), as GetCommandLineA would; empty if the code page has no mapping for it (its default
// character is used: '?' is no best fit).
std::string best_fit_of(std::wstring_view ch, UINT code_page) {
    char buf[8];
    BOOL used_default = FALSE;
    int n = ::WideCharToMultiByte(code_page, 0, ch.data(), static_cast<int>(ch.size()), buf, sizeof buf, nullptr,
                                  &used_default);
    if (n <= 0 && ::GetLastError() == ERROR_INVALID_PARAMETER)  // code pages that cannot report it
        n = ::WideCharToMultiByte(code_page, 0, ch.data(), static_cast<int>(ch.size()), buf, sizeof buf, nullptr,
                                  nullptr);
    if (n <= 0 || used_default) return {};
    return std::string(buf, static_cast<std::size_t>(n));
}

// WorstFit in one argument: each non-ASCII character on its own through best-fit mapping
// (check_best_fit_char says which results are dangerous).
std::error_code check_best_fit_arg(const std::string& a, UINT code_page, std::string& what) {
    std::wstring w = widen(a);
    for (std::size_t i = 0; i < w.size(); ++i) {
        if (w[i] < 0x80) continue;
        std::size_t len = IS_HIGH_SURROGATE(w[i]) && i + 1 < w.size() && IS_LOW_SURROGATE(w[i + 1]) ? 2 : 1;
        char32_t ch = len == 2 ? 0x10000 + ((char32_t(w[i]) - 0xD800) << 10) + (char32_t(w[i + 1]) - 0xDC00) : w[i];
        std::wstring_view one(w.data() + i, len);
        if (auto ec = check_best_fit_char(a, ch, best_fit_of(one, code_page), code_page, what)) return ec;
        i += len - 1;
    }
    return {};
}

}  // namespace

// WorstFit: refuse an argument that a narrow main() would see with characters nobody passed.
// UTF-8 and UTF-7 code pages have no best-fit mapping.
std::error_code check_best_fit(const std::vector<std::string>& argv, unsigned code_page, std::string& what) {
    if (code_page == CP_UTF8 || code_page == CP_UTF7) return {};
    for (const auto& a : argv) {
        bool ascii = std::all_of(a.begin(), a.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
        if (ascii) continue;
        if (auto ec = check_best_fit_arg(a, code_page, what)) return ec;
    }
    return {};
}

std::error_code build_command_line(const std::vector<std::string>& argv, std::wstring& application,
                                   std::wstring& command_line, std::string& what) {
    if (auto ec = check_best_fit(argv, ::GetACP(), what)) return ec;
    std::string line;
    if (is_batch_file(narrow(application))) {
        // Batch files run under cmd.exe, whose parser differs from the MSVC one: use System32's
        // cmd.exe explicitly (not %ComSpec%, which the environment controls) and refuse
        // arguments it would interpret.
        std::wstring cmd = system_dir(false) + L"\\cmd.exe";
        std::vector<std::string> args(argv.begin() + 1, argv.end());
        if (auto ec = batch_command_line(narrow(cmd), narrow(application), args, line, what)) return ec;
        application = cmd;
    } else if (auto ec = windows_command_line(argv, line, what)) {
        return ec;
    }
    command_line = widen(line);
    return {};
}

}  // namespace tether::detail
