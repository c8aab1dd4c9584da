// Windows backend: which file a spawn runs (spawn_steps.hpp, resolve_program). A bare name is
// searched for as Rust's Command does, never in the current directory; a path gets ".exe" as
// CreateProcess gives the first token of a command line.
#include "windows/spawn_steps.hpp"

#include <tether/spawn.hpp>

#include "detail/backend.hpp"
#include "windows/win.hpp"

namespace tether::detail {

std::wstring system_dir(bool windows) {
    wchar_t buf[MAX_PATH];
    UINT n = windows ? ::GetWindowsDirectoryW(buf, MAX_PATH) : ::GetSystemDirectoryW(buf, MAX_PATH);
    return n > 0 && n < MAX_PATH ? std::wstring(buf, n) : std::wstring();
}

namespace {

bool is_file(const std::wstring& path) {
    DWORD a = ::GetFileAttributesW(path.c_str());
    return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY) == 0;
}

std::wstring directory_of(std::wstring path) {
    auto slash = path.find_last_of(L"\\/");
    return slash == std::wstring::npos ? std::wstring() : path.substr(0, slash);
}

// Where a bare program name is looked for, in the order Rust's Command uses: the child's PATH
// if the options set one, our executable's directory, System32, the Windows directory, our PATH.
// Not the current directory (CreateProcess's own search starts there, which lets a file
// dropped into the working directory win).
std::vector<std::wstring> search_dirs(const spawn_options& opt) {
    std::vector<std::wstring> dirs;
    auto add_path = [&](const std::string& path) {
        std::wstring w = widen(path);
        for (std::size_t start = 0; start <= w.size();) {
            auto semi = w.find(L';', start);
            std::wstring d = w.substr(start, semi == std::wstring::npos ? std::wstring::npos : semi - start);
            if (!d.empty()) dirs.push_back(d);
            if (semi == std::wstring::npos) break;
            start = semi + 1;
        }
    };
    for (const auto& [k, v] : opt.env_set)
        if (CompareStringOrdinal(widen(k).c_str(), -1, L"PATH", -1, TRUE) == CSTR_EQUAL) add_path(v);
    dirs.push_back(directory_of(widen(current_executable_path())));
    dirs.push_back(system_dir(false));
    dirs.push_back(system_dir(true));
    if (auto path = get_environment_variable("PATH")) add_path(*path);
    return dirs;
}

// "./worker" runs "./worker.exe" when there is no file "./worker": a path whose last part has no
// extension gets ".exe", as CreateProcess does for the first token of a command line
// (lpApplicationName itself takes no default extension), so a portable argv works on both OSes.
std::wstring with_default_extension(const std::wstring& path) {
    auto last = path.find_last_of(L"\\/:");
    bool has_extension = path.find(L'.', last == std::wstring::npos ? 0 : last + 1) != std::wstring::npos;
    if (has_extension || ::GetFileAttributesW(path.c_str()) != INVALID_FILE_ATTRIBUTES) return path;
    return path + L".exe";
}

}  // namespace

std::error_code resolve_program(const spawn_options& opt, std::wstring& application, std::string& what) {
    const std::string& name = opt.argv[0];
    std::wstring wname = widen(name);
    if (wname.find_first_of(L"\\/:") != std::wstring::npos) {
        application = with_default_extension(wname);
        DWORD a = ::GetFileAttributesW(application.c_str());
        if (a == INVALID_FILE_ATTRIBUTES) return os_error(what, "cannot run '" + name + "': not found");
        if (a & FILE_ATTRIBUTE_DIRECTORY) {
            what = "cannot run '" + name + "': it is a directory";
            return win_error(ERROR_ACCESS_DENIED);
        }
        return {};
    }
    bool has_extension = wname.find(L'.') != std::wstring::npos;
    std::wstring file = has_extension ? wname : wname + L".exe";
    for (const auto& dir : search_dirs(opt)) {
        std::wstring candidate = dir + L"\\" + file;
        if (is_file(candidate)) {
            application = candidate;
            return {};
        }
    }
    what = "program '" + name + "' not found (searched for '" + narrow(file) +
           "' in the executable's directory, System32, the Windows directory and PATH)";
    return win_error(ERROR_FILE_NOT_FOUND);
}

}  // namespace tether::detail
