// Windows backend: the launch (detail/backend.hpp, section 3) with CreateProcessW,
// STARTUPINFOEXW and PROC_THREAD_ATTRIBUTE_HANDLE_LIST. launch_prepare() takes the steps before
// the call (spawn_steps.hpp lists them and their files) into the launch state, which owns every
// temporary handle; launch() creates the child. No handle of ours is ever made inheritable:
// child_handles.hpp says where the child inherits from. A child on a terminal
// (stdio::terminal()) gets the pseudo console (windows/terminal.hpp) as an attribute, which
// rules out the vault: it inherits copies made in our process for the call alone.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/backend.hpp"
#include "detail/quote.hpp"
#include "detail/spawn_rules.hpp"
#include "windows/attribute_list.hpp"
#include "windows/child_handles.hpp"
#include "windows/process.hpp"
#include "windows/spawn_steps.hpp"
#include "windows/terminal.hpp"
#include "windows/win.hpp"

#include <algorithm>
#include <memory>

namespace tether {
namespace detail {

// The contract's launch_state on Windows: what is prepared before CreateProcessW; owns every
// temporary handle.
struct launch_state {
    std::wstring application;
    std::wstring command_line;
    std::wstring environment;  // double-NUL-terminated block
    std::wstring cwd;
    unique_handle null_dev;
    unique_handle parent_stdio[3];      // our ends of stdio::pipe() streams
    unique_handle child_stdio_pipe[3];  // their ends of those pipes
    HANDLE stdio_source[3]{nullptr, nullptr, nullptr};  // our handle for each stream
    HANDLE stdio_child[3]{nullptr, nullptr, nullptr};   // the child's value for each
    child_handles handles;
    std::shared_ptr<process_tree> tree;  // the child's job, if it gets one
    terminal_ptr terminal;               // the pseudo console of the stdio::terminal() streams
    bool detached{false};
};

namespace {

std::error_code open_null(launch_state& p, std::string& what) {
    if (p.null_dev) return {};
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, FALSE};
    p.null_dev.reset(::CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                                   &sa, OPEN_EXISTING, 0, nullptr));
    if (!p.null_dev) return os_error(what, "open NUL");
    return {};
}

// One pseudo console for every stream that asks (validate_spawn_options made their sizes agree).
// Made before any handle is placed: the copies made for the child are made under the lock that
// CreatePseudoConsole's own inheritable copies are made under (child_handles.hpp).
std::error_code open_terminal(const stdio& s, launch_state& p, std::string& what) {
    if (p.terminal) return {};
    std::error_code ec;
    std::string step;
    p.terminal = terminal_create({static_cast<std::uint16_t>(s.cols), static_cast<std::uint16_t>(s.rows)}, ec, step);
    if (!p.terminal) what = "stdio::terminal(): " + step;
    return ec;
}

// Our handle for stdio stream `target` (0, 1, 2); NULL for none.
std::error_code stdio_source(const stdio& s, int target, launch_state& p, HANDLE stdout_source, HANDLE& src,
                             std::string& what) {
    static constexpr DWORD std_ids[3] = {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
    src = nullptr;
    // A detached child gets the null device for the streams left as ours.
    auto how = p.detached && s.how == stdio::kind::inherit ? stdio::kind::null : s.how;
    switch (how) {
        case stdio::kind::inherit: src = ::GetStdHandle(std_ids[target]); break;
        case stdio::kind::to_stdout: src = stdout_source; break;
        case stdio::kind::handle: src = s.h.get(); break;
        case stdio::kind::null:
            if (auto ec = open_null(p, what)) return ec;
            src = p.null_dev.get();
            break;
        case stdio::kind::terminal:
            // A NULL std handle becomes the console's when the child attaches to it (GetStdHandle):
            // the console replaces only console handles, so ours must not be there.
            return open_terminal(s, p, what);
        case stdio::kind::pipe: {
            try {
                auto pair = make_pipe(target == 0 ? direction::out : direction::in, s.capacity);
                p.parent_stdio[target] = std::move(pair.ours);
                p.child_stdio_pipe[target] = std::move(pair.theirs);
            } catch (const std::system_error& e) {
                what = std::string("pipe for stdio: ") + e.what();
                return e.code();
            }
            src = p.child_stdio_pipe[target].get();
            break;
        }
    }
    if (!is_valid_native(src)) src = nullptr;
    return {};
}

std::error_code choose_stdio(const spawn_options& opt, launch_state& p, std::string& what) {
    const stdio* streams[3] = {&opt.in, &opt.out, &opt.err};
    for (int i = 0; i < 3; ++i) {
        if (auto ec = stdio_source(*streams[i], i, p, p.stdio_source[1], p.stdio_source[i], what)) return ec;
        // Our own std handle may be stale (a closed console, a detached service): the child
        // then starts without that stream rather than not at all, as CreateProcess would.
        DWORD flags = 0;
        if (streams[i]->how == stdio::kind::inherit && p.stdio_source[i] != nullptr &&
            !is_console_pseudo_handle(p.stdio_source[i]) && !::GetHandleInformation(p.stdio_source[i], &flags))
            p.stdio_source[i] = nullptr;
    }
    return {};
}

std::error_code check_cwd(const spawn_options& opt, launch_state& p, std::string& what) {
    if (opt.cwd.empty()) return {};
    p.cwd = widen(opt.cwd);
    DWORD a = ::GetFileAttributesW(p.cwd.c_str());
    if (a == INVALID_FILE_ATTRIBUTES) return os_error(what, "working directory '" + opt.cwd + "'");
    if ((a & FILE_ATTRIBUTE_DIRECTORY) == 0) {
        what = "working directory '" + opt.cwd + "' is not a directory";
        return win_error(ERROR_DIRECTORY);
    }
    return {};
}

// Everything before the child values are known: the job, the program, the directory, stdio.
std::error_code prepare(const spawn_options& opt, launch_state& p, std::string& what) {
    p.detached = opt.detached;
    if (auto ec = make_child_job(opt, p.tree, what)) return ec;
    if (auto ec = resolve_program(opt, p.application, what)) return ec;
    if (auto ec = check_cwd(opt, p, what)) return ec;
    return choose_stdio(opt, p, what);
}

// The child's values: stdio's and each passed handle's, as copies in the vault (or, without
// one, as our own handles, listed for this child only).
std::error_code place_handles(spawn_plan& plan, launch_state& p, std::string& what) {
    // A pseudo console cannot come with PROC_THREAD_ATTRIBUTE_PARENT_PROCESS (CreateProcessW fails,
    // ERROR_INVALID_HANDLE): its child inherits from us, copies made for the call alone.
    auto mode = p.terminal ? child_handles::mode::self_copy : inheritance_mode(plan.opt, p.stdio_source);
    if (auto ec = p.handles.open(mode, what)) return ec;
    for (int i = 0; i < 3; ++i)
        if (auto ec = p.handles.put(p.stdio_source[i], p.stdio_child[i], what)) return ec;
    for (const auto& h : plan.opt.handles) {
        HANDLE theirs = nullptr;
        if (auto ec = p.handles.put(h.h.get(), theirs, what)) return ec;
        plan.handles.push_back({h.h.get(), theirs});
    }
    plan.parent_id = static_cast<std::int64_t>(p.handles.parent_pid());
    return {};
}

std::string explain_create_error(DWORD err, const spawn_options& opt, const launch_state& p) {
    std::string s = "CreateProcessW '" + narrow(p.application) + "'";
    if (err == ERROR_BAD_EXE_FORMAT) return s + ": not a Windows program";
    if (err == ERROR_DIRECTORY && !opt.cwd.empty()) return s + ": bad working directory '" + opt.cwd + "'";
    return s;
}

DWORD creation_flags(const spawn_options& opt, const launch_state& p) {
    DWORD f = EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT;
    if (p.tree) f |= CREATE_SUSPENDED;  // into its job before it runs a single instruction
    // A new group ignores Ctrl-C, which a terminal's child must get from a typed 0x03; the
    // console is its own anyway.
    if (opt.group != process_group::inherit && !p.terminal) f |= CREATE_NEW_PROCESS_GROUP;
    if (opt.detached) f |= DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | breakaway_flag();
    return f;
}

// The vault as the child's parent (if there is one), the pseudo console (if any: never both)
// and exactly this spawn's values as its handle list (if it inherits any). The attribute list
// points at `parent` and `values`: they must live until CreateProcessW has returned. The
// console's attribute is the HPCON itself, not a pointer to it (CreatePseudoConsole's example).
bool set_attributes(const attribute_list& attrs, HANDLE& parent, console_handle console, std::vector<HANDLE>& values) {
    if (attrs.get() == nullptr) return false;
    if (parent != nullptr && !::UpdateProcThreadAttribute(attrs.get(), 0, PROC_THREAD_ATTRIBUTE_PARENT_PROCESS,
                                                          &parent, sizeof parent, nullptr, nullptr))
        return false;
    if (console != nullptr && !::UpdateProcThreadAttribute(attrs.get(), 0, pseudoconsole_attribute, console,
                                                           sizeof console, nullptr, nullptr))
        return false;
    return values.empty() || ::UpdateProcThreadAttribute(attrs.get(), 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                                         values.data(), values.size() * sizeof(HANDLE), nullptr,
                                                         nullptr);
}

// CreateProcessW with the plan and `attrs`. `inherit`: the child gets a handle list.
std::error_code create_process(const spawn_options& opt, launch_state& p, LPPROC_THREAD_ATTRIBUTE_LIST attrs, bool inherit,
                               PROCESS_INFORMATION& pi, std::string& what) {
    STARTUPINFOEXW si{};
    si.StartupInfo.cb = sizeof si;
    // Always the flag, also on a pseudo console, whose streams are NULL here: without it
    // CreateProcessW gives a console child copies of OUR std handles when they are no console's
    // (our output redirected), even with bInheritHandles=FALSE, and the pseudo console replaces
    // only console handles (microsoft/terminal issue 11276); a NULL std handle becomes the
    // console's when the child attaches (GetStdHandle). node-pty and vim do the same.
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = p.stdio_child[0];
    si.StartupInfo.hStdOutput = p.stdio_child[1];
    si.StartupInfo.hStdError = p.stdio_child[2];
    si.lpAttributeList = attrs;
    // bInheritHandles=TRUE reaches only the list, and the list names only this spawn's values.
    if (::CreateProcessW(p.application.c_str(), p.command_line.data(), nullptr, nullptr, inherit,
                         creation_flags(opt, p), p.environment.data(), p.cwd.empty() ? nullptr : p.cwd.c_str(),
                         &si.StartupInfo, &pi))
        return {};
    DWORD err = ::GetLastError();
    what = explain_create_error(err, opt, p);
    return win_error(err);
}

// The child runs: the launch takes the process handle (unless detached: not ours to wait
// for) and our ends of its stdio pipes.
void hand_over(const spawn_options& opt, launch_state& p, const PROCESS_INFORMATION& pi, launched& out) {
    out.pid = pi.dwProcessId;
    if (opt.detached) {
        ::CloseHandle(pi.hProcess);
        return;
    }
    out.process.reset(pi.hProcess);
    for (int i = 0; i < 3; ++i) out.parent_stdio[i] = std::move(p.parent_stdio[i]);
    out.tree = std::move(p.tree);
    out.terminal = std::move(p.terminal);
}

}  // namespace

void launch_state_deleter::operator()(launch_state* s) const noexcept { delete s; }

launch_state_ptr launch_prepare(spawn_plan& plan, std::error_code& ec, std::string& what) {
    launch_state_ptr p(new launch_state);
    if ((ec = prepare(plan.opt, *p, what)) || (ec = place_handles(plan, *p, what))) return nullptr;
    return p;
}

std::error_code launch(spawn_plan& plan, launch_state& p, launched& out, std::string& what) {
    const auto& opt = plan.opt;
    if (auto ec = build_command_line(plan.argv, p.application, p.command_line, what)) return ec;
    p.environment = environment_block(child_environment(opt, current_environment(), std::move(plan.env_added), true));
    std::vector<HANDLE> list = p.handles.values();
    HANDLE parent = p.handles.parent_process();
    console_handle console = p.terminal ? p.terminal->console->native() : nullptr;
    attribute_list attrs(3);
    if (!set_attributes(attrs, parent, console, list)) return os_error(what, "prepare the process attribute list");
    PROCESS_INFORMATION pi{};
    // On failure the state closes the copies; the options still own every handle.
    if (auto ec = create_process(opt, p, attrs.get(), !list.empty(), pi, what)) return ec;
    auto ec = start_in_job(p.tree.get(), pi, what);
    ::CloseHandle(pi.hThread);
    if (!ec && p.terminal && (ec = p.terminal->console->watch(pi.hProcess, what)))
        ::TerminateProcess(pi.hProcess, 1);  // a session nobody would end: the child goes with it
    if (ec) {
        ::CloseHandle(pi.hProcess);
        return ec;
    }
    hand_over(opt, p, pi, out);
    return {};
}

}  // namespace detail
}  // namespace tether
