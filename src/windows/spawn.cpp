// Windows backend: spawn() with CreateProcessW, STARTUPINFOEXW and
// PROC_THREAD_ATTRIBUTE_HANDLE_LIST. prepare() takes the steps before the call (spawn_steps.hpp
// lists them and their files) into a plan that owns every temporary handle; spawn_impl creates
// the child. No handle of ours is ever made inheritable: child_handles.hpp says where the child
// inherits from.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/backend.hpp"
#include "detail/quote.hpp"
#include "detail/spawn_plan.hpp"
#include "windows/child_handles.hpp"
#include "windows/process.hpp"
#include "windows/spawn_steps.hpp"
#include "windows/win.hpp"

#include <algorithm>
#include <memory>

namespace tether {
namespace detail {
namespace {

// What spawn_impl prepares before CreateProcessW; owns every temporary handle.
struct plan {
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
    bool detached{false};
};

std::error_code open_null(plan& p, std::string& what) {
    if (p.null_dev) return {};
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, FALSE};
    p.null_dev.reset(::CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                                   &sa, OPEN_EXISTING, 0, nullptr));
    if (!p.null_dev) return os_error(what, "open NUL");
    return {};
}

// Our handle for stdio stream `target` (0, 1, 2); NULL for none.
std::error_code stdio_source(const stdio& s, int target, plan& p, HANDLE stdout_source, HANDLE& src,
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

std::error_code choose_stdio(const spawn_options& opt, plan& p, std::string& what) {
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

std::error_code check_cwd(const spawn_options& opt, plan& p, std::string& what) {
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

std::error_code prepare(spawn_options& opt, plan& p, std::string& what) {
    if (auto ec = validate_spawn_options(opt, what)) return ec;
    p.detached = opt.detached;
    if (auto ec = make_child_job(opt, p.tree, what)) return ec;
    for (const auto& h : opt.handles) {
        if (h.child_fd == -1) continue;
        what = "pass_at(" + std::to_string(h.child_fd) +
               "): Windows has no descriptor numbers; use pass() and the manifest or handle_arg()";
        return errc::not_supported;
    }
    if (auto ec = resolve_program(opt, p.application, what)) return ec;
    if (auto ec = check_cwd(opt, p, what)) return ec;
    if (auto ec = choose_stdio(opt, p, what)) return ec;
    if (auto ec = p.handles.open(inheritance_mode(opt, p.stdio_source), what)) return ec;
    for (int i = 0; i < 3; ++i)
        if (auto ec = p.handles.put(p.stdio_source[i], p.stdio_child[i], what)) return ec;
    std::vector<handle_mapping> map;
    for (const auto& h : opt.handles) {
        HANDLE theirs = nullptr;
        if (auto ec = p.handles.put(h.h.get(), theirs, what)) return ec;
        map.push_back({h.h.get(), theirs});
    }
    std::vector<std::string> argv = opt.argv;
    if (auto ec = substitute_handle_args(argv, map, what)) return ec;
    if (auto ec = build_command_line(argv, p.application, p.command_line, what)) return ec;
    p.environment = environment_block(build_environment(opt, current_environment(), manifest_for(opt, map),
                                                        std::to_string(p.handles.parent_pid()), true));
    return {};
}

// RAII for the attribute list.
class attribute_list {
public:
    explicit attribute_list(DWORD count) {
        SIZE_T size = 0;
        ::InitializeProcThreadAttributeList(nullptr, count, 0, &size);
        buffer_.resize(size);
        auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(buffer_.data());
        if (::InitializeProcThreadAttributeList(list, count, 0, &size)) list_ = list;
    }
    attribute_list(const attribute_list&) = delete;
    attribute_list& operator=(const attribute_list&) = delete;
    ~attribute_list() {
        if (list_ != nullptr) ::DeleteProcThreadAttributeList(list_);
    }
    [[nodiscard]] LPPROC_THREAD_ATTRIBUTE_LIST get() const noexcept { return list_; }

private:
    std::vector<unsigned char> buffer_;
    LPPROC_THREAD_ATTRIBUTE_LIST list_{nullptr};
};

std::string explain_create_error(DWORD err, const spawn_options& opt, const plan& p) {
    std::string s = "CreateProcessW '" + narrow(p.application) + "'";
    if (err == ERROR_BAD_EXE_FORMAT) return s + ": not a Windows program";
    if (err == ERROR_DIRECTORY && !opt.cwd.empty()) return s + ": bad working directory '" + opt.cwd + "'";
    return s;
}

DWORD creation_flags(const spawn_options& opt, const plan& p) {
    DWORD f = EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT;
    if (p.tree) f |= CREATE_SUSPENDED;  // into its job before it runs a single instruction
    if (opt.group != process_group::inherit) f |= CREATE_NEW_PROCESS_GROUP;
    if (opt.detached) f |= DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | breakaway_flag();
    return f;
}

// The vault as the child's parent (if there is one) and exactly this spawn's values as its
// handle list (if it inherits any). The attribute list points at `parent` and `values`: they
// must live until CreateProcessW has returned.
bool set_attributes(const attribute_list& attrs, HANDLE& parent, std::vector<HANDLE>& values) {
    if (attrs.get() == nullptr) return false;
    if (parent != nullptr && !::UpdateProcThreadAttribute(attrs.get(), 0, PROC_THREAD_ATTRIBUTE_PARENT_PROCESS,
                                                          &parent, sizeof parent, nullptr, nullptr))
        return false;
    return values.empty() || ::UpdateProcThreadAttribute(attrs.get(), 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                                         values.data(), values.size() * sizeof(HANDLE), nullptr,
                                                         nullptr);
}

// CreateProcessW with the plan and `attrs`. `inherit`: the child gets a handle list.
std::error_code create_process(const spawn_options& opt, plan& p, LPPROC_THREAD_ATTRIBUTE_LIST attrs, bool inherit,
                               PROCESS_INFORMATION& pi, std::string& what) {
    STARTUPINFOEXW si{};
    si.StartupInfo.cb = sizeof si;
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

// The child runs: the parent's copies of everything it received are closed now, and the child
// object takes the process handle (unless detached) and our ends of its stdio pipes.
child hand_over(spawn_options& opt, plan& p, const PROCESS_INFORMATION& pi) {
    for (auto& h : opt.handles) h.h.reset();
    opt.in.h.reset();
    opt.out.h.reset();
    opt.err.h.reset();
    if (opt.detached) {
        ::CloseHandle(pi.hProcess);  // not ours to wait for (spawn_options::detached)
        return make_detached_child(pi.dwProcessId);
    }
    return make_child(pi.dwProcessId, unique_handle(pi.hProcess), opt.kill_on_destroy,
                      std::move(p.parent_stdio[0]), std::move(p.parent_stdio[1]), std::move(p.parent_stdio[2]),
                      std::move(p.tree));
}

}  // namespace

child spawn_impl(spawn_options& opt, std::error_code& ec, std::string& what) {
    plan p;
    if ((ec = prepare(opt, p, what))) return {};
    std::vector<HANDLE> list = p.handles.values();
    HANDLE parent = p.handles.parent_process();
    attribute_list attrs(2);
    if (!set_attributes(attrs, parent, list)) {
        ec = os_error(what, "prepare the process attribute list");
        return {};
    }
    PROCESS_INFORMATION pi{};
    // On failure the plan closes the copies; the options still own every handle.
    if ((ec = create_process(opt, p, attrs.get(), !list.empty(), pi, what))) return {};
    ec = start_in_job(p.tree.get(), pi, what);
    ::CloseHandle(pi.hThread);
    if (ec) {
        ::CloseHandle(pi.hProcess);
        return {};
    }
    return hand_over(opt, p, pi);
}

}  // namespace detail
}  // namespace tether
