// Windows backend: a child started on a pseudo console (pseudo_console.hpp, launch_on_console).
//
// What differs from spawn.cpp's launch, and why:
//  - PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE carries the console; PROC_THREAD_ATTRIBUTE_PARENT_PROCESS
//    cannot come with it (CreateProcessW fails with ERROR_INVALID_HANDLE under wine 8), so there
//    is no handle vault: a passed handle is an inheritable copy in our own process for the call
//    (child_handles' self copy), closed right after, and listed in PROC_THREAD_ATTRIBUTE_HANDLE_LIST
//    so this child takes exactly those. The copies are made under inheritable_window_mutex(), the
//    lock CreatePseudoConsole's own inheritable copies are made under (child_handles.hpp), so
//    tether never races itself; a foreign CreateProcess(bInheritHandles=TRUE) without a list in another thread can
//    still take them during the call (the "reverse race" child_handles.hpp describes).
//  - The std handles: STARTF_USESTDHANDLES with all three NULL. Without the flag, CreateProcessW
//    gives a console child copies of OUR std handles when they are not console handles (our
//    output redirected to a pipe or a file), even with bInheritHandles=FALSE, and the pseudo
//    console replaces only console handles: the child would write to our stdout instead of the
//    console (microsoft/terminal issue 11276; node-pty and vim do the same). A NULL std handle is
//    replaced by the console's when the child attaches ("If the existing value of the standard
//    handle is NULL ... the handle is replaced with a console handle", GetStdHandle).
#include <tether/error.hpp>

#include "detail/backend.hpp"
#include "detail/spawn_rules.hpp"
#include "windows/attribute_list.hpp"
#include "windows/child_handles.hpp"
#include "windows/pseudo_console.hpp"
#include "windows/spawn_steps.hpp"
#include "windows/win.hpp"

namespace tether::detail {
namespace {

// The child's program, command line, environment block and directory, as spawn() makes them.
struct console_command {
    std::wstring application, command_line, environment, cwd;
};

std::error_code prepare_command(const spawn_options& opt, console_command& c, std::string& what) {
    if (auto ec = resolve_program(opt, c.application, what)) return ec;
    if (auto ec = build_command_line(opt.argv, c.application, c.command_line, what)) return ec;
    c.environment = environment_block(child_environment(opt, current_environment(), {}, true));
    c.cwd = widen(opt.cwd);
    return {};
}

// The console and, if there are any, exactly this child's handles. `console` is the attribute's
// value itself (not a pointer to it), as CreatePseudoConsole's documentation shows; `values`
// must live until CreateProcessW has returned.
bool set_console_attributes(const attribute_list& attrs, console_handle console, std::vector<HANDLE>& values) {
    if (attrs.get() == nullptr ||
        !::UpdateProcThreadAttribute(attrs.get(), 0, pseudoconsole_attribute, console, sizeof console,
                                     nullptr, nullptr))
        return false;
    return values.empty() || ::UpdateProcThreadAttribute(attrs.get(), 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                                         values.data(), values.size() * sizeof(HANDLE), nullptr,
                                                         nullptr);
}

std::error_code create_on_console(console_command& c, console_handle console, std::vector<HANDLE>& list, console_child& out,
                                  std::string& what) {
    attribute_list attrs(2);
    if (!set_console_attributes(attrs, console, list)) return os_error(what, "prepare the process attribute list");
    STARTUPINFOEXW si{};
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;  // all three NULL: the console's (see above)
    si.lpAttributeList = attrs.get();
    PROCESS_INFORMATION pi{};
    // bInheritHandles=TRUE reaches only the list, and the list names only this child's copies.
    if (!::CreateProcessW(c.application.c_str(), c.command_line.data(), nullptr, nullptr, !list.empty(),
                          EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT, c.environment.data(),
                          c.cwd.empty() ? nullptr : c.cwd.c_str(), &si.StartupInfo, &pi))
        return os_error(what, "CreateProcessW '" + narrow(c.application) + "' on a pseudo console");
    ::CloseHandle(pi.hThread);
    out.process.reset(pi.hProcess);
    out.pid = pi.dwProcessId;
    return {};
}

}  // namespace

std::error_code launch_on_console(const pseudo_console& console, const spawn_options& opt, console_child& out,
                                  std::string& what) {
    console_command c;
    if (auto ec = prepare_command(opt, c, what)) return ec;
    console_handle hpc = console.native();
    if (hpc == nullptr) {
        what = "launch on a pseudo console whose session has ended";
        return errc::closed;
    }
    // The copies are inheritable from put() until close_copies(), under the lock child_handles
    // takes for them.
    child_handles handles;
    if (auto ec = handles.open(child_handles::mode::self_copy, what)) return ec;
    out.values.clear();
    for (const auto& h : opt.handles) {
        HANDLE theirs = nullptr;
        if (auto ec = handles.put(h.h.get(), theirs, what)) return ec;
        out.values.push_back(theirs);
    }
    std::vector<HANDLE> list = handles.values();
    auto ec = create_on_console(c, hpc, list, out, what);
    handles.close_copies();
    return ec;
}

}  // namespace tether::detail
