// Portable parts of spawn(): option checks, handle_arg placeholders, environment assembly.
#include "detail/manifest.hpp"
#include "detail/backend.hpp"
#include "detail/spawn_rules.hpp"
#include "detail/terminal.hpp"

#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

namespace tether {

namespace {
constexpr std::string_view placeholder_open = "{tether-handle:";
constexpr std::string_view placeholder_close = "}";
}  // namespace

std::string handle_arg(borrowed_handle h) {
    return std::string(placeholder_open) + detail::format_handle_value(h.get()) +
           std::string(placeholder_close);
}

namespace detail {
bool holds_handle_placeholder(std::string_view text) noexcept {
    return text.find(placeholder_open) != std::string_view::npos;
}
}  // namespace detail

spawn_options& spawn_options::pass(unique_handle&& h, std::string name) {
    handles.push_back({std::move(h), std::move(name), -1});
    return *this;
}

spawn_options& spawn_options::pass_listen_fd(unique_handle&& h, std::string name) {
    int index = static_cast<int>(std::count_if(handles.begin(), handles.end(), [](const passed& p) { return p.listen_fd; }));
    handles.push_back({std::move(h), std::move(name), 3 + index, true});
    return *this;
}

spawn_options& spawn_options::pass_at(int child_fd, unique_handle&& h, std::string name) {
    // -1 in `passed::child_fd` means "next free"; pass_at(-1) is a mistake, not a pass(): keep it
    // negative but distinct so that spawn() refuses it.
    handles.push_back({std::move(h), std::move(name), child_fd == -1 ? std::numeric_limits<int>::min() : child_fd});
    return *this;
}

namespace {
// Windows reports a crash as the exit code of the unhandled exception's NTSTATUS (severity
// "error", 0xC0000000 and above, or the breakpoint warning): named here, in portable code, so
// supervision code reads "crashed: access violation (0xC0000005)" and need not branch per
// platform. A POSIX exit code is 0..255 and never matches.
const char* crash_name(std::uint32_t status) {
    switch (status) {
        case 0xC0000005u: return "access violation";
        case 0xC00000FDu: return "stack overflow";
        case 0xC0000094u: return "integer division by zero";
        case 0xC000001Du: return "illegal instruction";
        case 0xC0000409u: return "stack buffer overrun (fail fast)";
        case 0xC0000374u: return "heap corruption";
        case 0xC000008Eu: return "floating-point division by zero";
        case 0xC0000096u: return "privileged instruction";
        case 0xC0000025u: return "noncontinuable exception";
        case 0xC000013Au: return "ended by Ctrl+C";
        case 0x80000003u: return "breakpoint";
        default: return nullptr;
    }
}
bool is_crash_code(std::uint32_t status) { return status >= 0xC0000000u || crash_name(status) != nullptr; }

std::string hex32(std::uint32_t v) {
    const char* digits = "0123456789ABCDEF";
    std::string s = "0x";
    for (int shift = 28; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xF];
    return s;
}
}  // namespace

bool exit_status::crashed() const noexcept {
    return how == kind::signalled || (how == kind::exited && is_crash_code(static_cast<std::uint32_t>(code)));
}

std::string exit_status::describe() const {
    if (how == kind::unknown)
        return "ended, exit status unknown (collected by someone else: SIGCHLD ignored, or another waitpid)";
    if (how == kind::exited) {
        auto status = static_cast<std::uint32_t>(code);
        if (!is_crash_code(status)) return "exited with code " + std::to_string(code);
        const char* name = crash_name(status);
        return std::string("crashed: ") + (name != nullptr ? name : "unhandled exception") + " (" + hex32(status) + ")";
    }
    std::string s = "killed by signal " + std::to_string(code);
    std::string name = detail::signal_name(code);
    if (!name.empty()) s += " (" + name + ")";
    if (core_dumped) s += " (core dumped)";
    return s;
}

namespace detail {

std::string printable(std::string_view text) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c == 0) {
            out += "\\0";
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += ch;
        }
    }
    return out;
}

std::string spawn_context(const spawn_options& opt) {
    return "spawn '" + printable(opt.argv.empty() ? std::string() : opt.argv[0]) + "'";
}

namespace {

bool same_name(std::string_view a, std::string_view b, bool fold_case) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (fold_case) {
            x = static_cast<char>(std::toupper(static_cast<unsigned char>(x)));
            y = static_cast<char>(std::toupper(static_cast<unsigned char>(y)));
        }
        if (x != y) return false;
    }
    return true;
}

std::error_code fail(std::string& what, std::string text, errc code = errc::invalid_argument) {
    what = std::move(text);
    return code;
}

std::error_code check_stdio(const stdio& s, const char* stream, std::string& what) {
    if (s.how == stdio::kind::handle && !s.h)
        return fail(what, std::string(stream) + " is stdio::from() an invalid handle");
    if (s.how == stdio::kind::to_stdout && std::string_view(stream) != "stderr")
        return fail(what, std::string(stream) + " cannot be stdio::to_stdout(); only stderr can");
    return {};
}

std::size_t listen_count(const spawn_options& opt) {
    return static_cast<std::size_t>(std::count_if(opt.handles.begin(), opt.handles.end(),
                                                  [](const spawn_options::passed& p) { return p.listen_fd; }));
}

// A pass_listen_fd() handle: a name systemd accepts. Another: no number among theirs (3 … 3+n-1).
std::error_code check_listen(const spawn_options::passed& p, const std::string& which, std::size_t listen_fds,
                             std::string& what) {
    if (p.listen_fd && !has_descriptor_numbers()) {
        what = which + ": socket activation (LISTEN_FDS) is a Linux convention; Windows has none";
        return errc::not_supported;
    }
    if (p.listen_fd && !valid_listen_name(p.name))
        return fail(what, which + ": a LISTEN_FDNAMES name must be 1 to 255 printable ASCII characters without ':'");
    auto last = listen_fds_start + static_cast<int>(listen_fds) - 1;
    if (!p.listen_fd && p.child_fd >= listen_fds_start && p.child_fd <= last)
        return fail(what, which + ": child descriptor " + std::to_string(p.child_fd) + " is taken by socket activation, "
                              "which places its " + std::to_string(listen_fds) + " LISTEN_FDS at 3.." + std::to_string(last));
    return {};
}

std::error_code check_passed(const spawn_options& opt, std::string& what) {
    std::set<std::string> names;
    std::set<int> fds;
    std::set<native_handle> values;
    auto listen_fds = listen_count(opt);
    for (std::size_t i = 0; i < opt.handles.size(); ++i) {
        const auto& p = opt.handles[i];
        std::string which = "passed handle #" + std::to_string(i + 1);
        if (!p.name.empty()) which += " ('" + p.name + "')";
        if (!p.h) return fail(what, which + " is not an open handle");
        if (!values.insert(p.h.get()).second)
            return fail(what, which + " is the same handle as an earlier one");
        if (auto ec = check_listen(p, which, listen_fds, what)) return ec;
        if (!p.name.empty() && !p.listen_fd && !valid_handle_name(p.name))
            return fail(what, which + ": a name may hold only letters, digits, '_', '-', '.'");
        if (!p.name.empty() && !names.insert(p.name).second)
            return fail(what, which + ": the name is used twice");
        if (p.child_fd != -1 && !has_descriptor_numbers() && !p.listen_fd)
            return fail(what, "pass_at(" + std::to_string(p.child_fd) + "): handles have no numbers a parent can "
                              "choose here (Windows); use pass() and the manifest or handle_arg()", errc::not_supported);
        if (p.child_fd != -1 && p.child_fd < 3) {
            int shown = p.child_fd == std::numeric_limits<int>::min() ? -1 : p.child_fd;
            return fail(what, which + ": child descriptor " + std::to_string(shown) +
                                  " is below 3 (0-2 are stdio; use spawn_options::in/out/err)");
        }
        if (p.child_fd != -1 && !fds.insert(p.child_fd).second)
            return fail(what, which + ": child descriptor " + std::to_string(p.child_fd) +
                                  " is used twice");
    }
    return {};
}

bool has_named_handle(const spawn_options& opt) {
    return std::any_of(opt.handles.begin(), opt.handles.end(), [](const auto& h) { return !h.name.empty() && !h.listen_fd; });
}

// With named handles spawn writes the manifest variables itself; an env_set entry of the same
// name would give the child two (inherited() then fails), so it is refused. Compared without
// case: on Windows the names are one variable, and no one means another variable by
// "tether_handles" on POSIX. Without named handles env_set may set them (tests do).
std::error_code check_manifest_clash(const spawn_options& opt, std::string& what) {
    if (has_named_handle(opt))
        for (const char* own : {manifest_variable, manifest_parent_variable, manifest_child_variable})
            for (const auto& var : opt.env_set)
                if (same_name(var.first, own, true))
                    return fail(what, "env_set sets " + var.first + ", which spawn writes itself for the named handles "
                                      "(the manifest): remove it from env_set, or pass the handles without names");
    if (listen_count(opt) != 0)
        for (const char* own : {listen_pid_variable, listen_fds_variable, listen_fdnames_variable})
            for (const auto& var : opt.env_set)
                if (same_name(var.first, own, false))
                    return fail(what, "env_set sets " + var.first + ", which spawn writes itself for pass_listen_fd() "
                                      "(socket activation): remove it from env_set");
    return {};
}

}  // namespace

// detached means "not tied to us": every option that ties the child to us contradicts it.
static std::error_code check_lifetime(const spawn_options& opt, std::string& what) {
    if (!opt.detached) return {};
    if (opt.kill_on_parent_exit) return fail(what, "detached and kill_on_parent_exit contradict each other");
    if (opt.kill_on_destroy) return fail(what, "detached and kill_on_destroy contradict each other");
    if (opt.own_tree) return fail(what, "detached and own_tree contradict each other (a detached child is not ours to end)");
    if (opt.group == process_group::new_group)
        return fail(what, "detached (a new session) and group = process_group::new_group contradict each other");
    const stdio* streams[3] = {&opt.in, &opt.out, &opt.err};
    const char* names[3] = {"stdin", "stdout", "stderr"};
    for (int i = 0; i < 3; ++i)
        if (streams[i]->how == stdio::kind::pipe)
            return fail(what, std::string("detached and ") + names[i] +
                                  " = stdio::pipe() contradict each other (the pipe would tie the child to us)");
    return {};
}

std::error_code validate_spawn_options(const spawn_options& opt, std::string& what) {
    if (auto ec = check_lifetime(opt, what)) return ec;
    if (opt.argv.empty() || opt.argv[0].empty()) return fail(what, "argv is empty: no program to run");
    for (std::size_t i = 0; i < opt.argv.size(); ++i)
        if (opt.argv[i].find('\0') != std::string::npos)
            return fail(what, "argv[" + std::to_string(i) + "] '" + printable(opt.argv[i]) +
                                  "' contains a NUL byte (shown as \\0)");
    for (const auto& [k, v] : opt.env_set) {
        if (k.empty()) return fail(what, "an environment variable in env_set has an empty name");
        if (k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
            return fail(what, "environment variable name '" + printable(k) + "' holds '=' or NUL (shown as \\0)");
        if (v.find('\0') != std::string::npos)
            return fail(what, "the value of environment variable '" + k + "' ('" + printable(v) +
                                  "') contains a NUL byte (shown as \\0)");
    }
    if (auto ec = check_manifest_clash(opt, what)) return ec;
    if (auto ec = check_stdio(opt.in, "stdin", what)) return ec;
    if (auto ec = check_stdio(opt.out, "stdout", what)) return ec;
    if (auto ec = check_stdio(opt.err, "stderr", what)) return ec;
    if (auto ec = check_terminal_streams(opt, what)) return ec;
    return check_passed(opt, what);
}

std::error_code substitute_handle_args(std::vector<std::string>& argv,
                                       const std::vector<handle_mapping>& map, std::string& what) {
    for (auto& arg : argv) {
        std::size_t pos = 0;
        while ((pos = arg.find(placeholder_open, pos)) != std::string::npos) {
            auto end = arg.find(placeholder_close, pos + placeholder_open.size());
            if (end == std::string::npos) break;
            auto value_text = arg.substr(pos + placeholder_open.size(), end - pos - placeholder_open.size());
            auto value = parse_handle_value(value_text);
            auto it = std::find_if(map.begin(), map.end(),
                                   [&](const handle_mapping& m) { return value && m.parent == *value; });
            if (it == map.end())
                return fail(what, "argument '" + arg + "' refers to handle " + value_text +
                                      " (handle_arg), which is not passed to the child");
            auto replacement = format_handle_value(it->child);
            arg.replace(pos, end + 1 - pos, replacement);
            pos += replacement.size();
        }
    }
    return {};
}

namespace {

std::string_view name_of(std::string_view entry) {
    // Windows keeps per-drive cwd entries like "=C:=C:\\": their name starts with '='.
    auto eq = entry.find('=', entry.empty() || entry[0] != '=' ? 0 : 1);
    return entry.substr(0, eq);
}

}  // namespace

const std::string* find_env(const std::vector<std::string>& env, std::string_view name,
                            bool fold_case, std::string* storage) {
    for (const auto& e : env) {
        if (same_name(name_of(e), name, fold_case)) {
            *storage = e.substr(name_of(e).size() + 1);
            return storage;
        }
    }
    return nullptr;
}

bool inherited_variable_dropped(const spawn_options& opt, std::string_view name, bool fold_case) {
    if (same_name(name, manifest_variable, fold_case) || same_name(name, manifest_parent_variable, fold_case) ||
        same_name(name, manifest_child_variable, fold_case))
        return true;  // a stale manifest of ours must never reach a child (it names our numbers)
    if (listen_count(opt) != 0 && (name == listen_pid_variable || name == listen_fds_variable || name == listen_fdnames_variable))
        return true;  // ours replace them
    for (const auto& u : opt.env_unset)
        if (same_name(name, u, fold_case)) return true;
    for (const auto& [k, v] : opt.env_set)
        if (same_name(name, k, fold_case)) return true;
    return false;
}

std::vector<std::string> added_environment(const spawn_options& opt, const std::string& manifest,
                                           const std::string& parent_pid, bool fold_case) {
    std::vector<std::string> env;
    for (const auto& var : opt.env_set) {  // not a structured binding: clang 14 cannot capture one
        bool unset = std::any_of(opt.env_unset.begin(), opt.env_unset.end(),
                                 [&](const std::string& u) { return same_name(u, var.first, fold_case); });
        if (!unset) env.push_back(var.first + "=" + var.second);
    }
    if (!manifest.empty()) {
        env.push_back(std::string(manifest_variable) + "=" + manifest);
        env.push_back(std::string(manifest_parent_variable) + "=" + parent_pid);
    }
    if (auto n = listen_count(opt); n != 0) {  // LISTEN_PID is the child's own: its backend writes it
        std::string names;
        for (const auto& h : opt.handles)
            if (h.listen_fd) names += (names.empty() ? "" : ":") + h.name;
        env.push_back(std::string(listen_fds_variable) + "=" + std::to_string(n));
        env.push_back(std::string(listen_fdnames_variable) + "=" + names);
    }
    return env;
}

std::vector<std::string> child_environment(const spawn_options& opt, const std::vector<std::string>& inherited,
                                           std::vector<std::string> added, bool fold_case) {
    std::vector<std::string> env;
    if (opt.inherit_environment) {
        env.reserve(inherited.size() + added.size());
        for (const auto& e : inherited)
            if (!inherited_variable_dropped(opt, name_of(e), fold_case)) env.push_back(e);
    }
    env.insert(env.end(), std::make_move_iterator(added.begin()), std::make_move_iterator(added.end()));
    return env;
}

std::vector<std::string> build_environment(const spawn_options& opt,
                                           const std::vector<std::string>& inherited,
                                           const std::string& manifest,
                                           const std::string& parent_pid, bool fold_case) {
    return child_environment(opt, inherited, added_environment(opt, manifest, parent_pid, fold_case), fold_case);
}

std::string manifest_for(const spawn_options& opt, const std::vector<handle_mapping>& map) {
    std::vector<manifest_entry> entries;
    for (std::size_t i = 0; i < opt.handles.size() && i < map.size(); ++i)
        if (!opt.handles[i].name.empty() && !opt.handles[i].listen_fd)
            entries.push_back({opt.handles[i].name, map[i].child, handle_identity(opt.handles[i].h.get())});
    return format_manifest(entries);
}

}  // namespace detail
}  // namespace tether

namespace tether {

// The public entry points, once for both backends.
std::string take_stdout_text(child& c) {
    auto h = c.take_stdout();
    if (!h) throw_error(errc::invalid_argument, "take_stdout_text: stdout of the child is not a pipe");
    return read_to_end(h);
}
}  // namespace tether
