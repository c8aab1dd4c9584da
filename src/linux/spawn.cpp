// Linux backend: the launch (detail/backend.hpp, section 3). From the portable spawn plan the
// parent prepares everything (the program's path, argv, envp, which descriptor goes where, what
// to close); exec_child.cpp then starts the child with clone(CLONE_VM | CLONE_VFORK), so the
// cost does not grow with our memory and exec failure comes back as an error, not an exit code.
//
// The child receives exactly: fds 0-2 as configured and each passed handle at its number.
// Everything else is closed in the child by close_range, or, where that fails at run time, by
// closing what /proc/self/fd lists. Since nothing tether creates is ever inheritable, another
// thread's spawn can never pick up our descriptors: no lock is needed.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/backend.hpp"
#include "detail/manifest.hpp"
#include "detail/spawn_rules.hpp"
#include "detail/terminal.hpp"
#include "linux/exec_child.hpp"
#include "linux/launch_state.hpp"
#include "linux/parent_watch.hpp"
#include "linux/process.hpp"
#include "linux/tree.hpp"
#include "testing/switches.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char** environ;  // NOLINT: POSIX names it so

namespace tether {
namespace detail {
namespace {

// The manifest's TETHER_CHILD_PID entry is written by the child itself (exec_child.cpp): room
// for any pid_t in decimal and the NUL.
constexpr std::size_t pid_slot_size = 24;

std::error_code os_error(std::string& what, std::string text) {
    auto ec = last_os_error();
    what = std::move(text);
    return ec;
}

// A relative path as the child will resolve it: it changes to its working directory first.
std::string as_seen_by_child(const std::string& path, const spawn_options& opt) {
    if (path.empty() || path[0] == '/' || opt.cwd.empty()) return path;
    return opt.cwd + "/" + path;
}

bool is_executable_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// The child's environment as pointers: the inherited strings stay where they are in `environ`
// (no copy per spawn), only the added ones are stored in the launch state.
void build_envp(spawn_plan& plan, launch_state& p) {
    const auto& opt = plan.opt;
    p.env_added = std::move(plan.env_added);
    // Filled in by the child with its own id. Each slot is longer than any short-string buffer,
    // so its characters stay where they are when the vector grows.
    const char* slot_names[2] = {plan.manifest.empty() ? nullptr : manifest_child_variable,
                                 std::any_of(opt.handles.begin(), opt.handles.end(), [](const auto& h) { return h.listen_fd; })
                                     ? listen_pid_variable : nullptr};
    std::size_t first_slot = p.env_added.size();
    for (const char* name : slot_names)
        if (name != nullptr) p.env_added.push_back(std::string(name) + "=" + std::string(pid_slot_size, '\0'));
    for (std::size_t i = first_slot, k = 0; i < p.env_added.size(); ++i, ++k) {
        auto& s = p.env_added[i];
        p.pid_slots[k] = s.data() + s.find('=') + 1;
    }
    if (opt.inherit_environment) {
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            const char* eq = std::strchr(*e, '=');
            std::string_view name(*e, eq != nullptr ? static_cast<std::size_t>(eq - *e) : std::strlen(*e));
            if (!inherited_variable_dropped(opt, name, false)) p.envp.push_back(*e);
        }
    }
    for (auto& s : p.env_added) p.envp.push_back(s.data());
    p.envp.push_back(nullptr);
}

const char* child_path_variable(const launch_state& p) {
    for (char* const* e = p.envp.data(); *e != nullptr; ++e)
        if (std::strncmp(*e, "PATH=", 5) == 0) return *e + 5;
    return nullptr;
}

// execvp's rules, but over the child's PATH and done before spawning, so the error can name it.
// A name with a '/' is used as it is (no search, no system call).
std::error_code resolve_program(const spawn_options& opt, launch_state& p, std::string& what) {
    const std::string& name = opt.argv[0];
    if (name.find('/') != std::string::npos) {
        p.program = name;
        return {};
    }
    const char* path = child_path_variable(p);
    std::string dirs = path != nullptr ? std::string(path) : std::string("/usr/local/bin:/usr/bin:/bin");
    std::size_t start = 0;
    for (;;) {
        auto colon = dirs.find(':', start);
        std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        if (is_executable_file(as_seen_by_child(candidate, opt))) {
            p.program = candidate;
            return {};
        }
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    what = "program '" + name + "' not found in PATH (" + dirs + ")";
    return std::error_code(ENOENT, std::system_category());
}

std::error_code open_cwd(const spawn_options& opt, launch_state& p, std::string& what) {
    if (opt.cwd.empty()) return {};
    int fd = ::open(opt.cwd.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return os_error(what, "working directory '" + opt.cwd + "'");
    p.cwd.reset(fd);
    return {};
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    out.reserve(v.size() + 1);
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// "stdout (descriptor 7) as descriptor 1" or "passed handle #2 ('log') (descriptor 9) as
// descriptor 4": the dups are the stdio streams first, then the passed handles in order.
std::string describe_dup(const spawn_options& opt, const launch_state& p, std::size_t index) {
    if (index >= p.dups.size()) return "a descriptor";
    const auto& d = p.dups[index];
    std::size_t stdio_count = p.dups.size() - opt.handles.size();
    std::string which = index < stdio_count ? std::string(stream_name(d.to)) : passed_name(opt, index - stdio_count);
    return which + " (descriptor " + std::to_string(d.from) + ") as descriptor " + std::to_string(d.to);
}

// Turns the child's (or the setup's) errno into a sentence about the program.
std::string explain_exec_error(int err, const spawn_options& opt, const launch_state& p, const exec_request& ep) {
    auto step = ep.failed_step;
    if (step == exec_request::step::report_pipe) return "cannot create spawn's own report pipe";
    if (step == exec_request::step::stack) return "cannot map the stack for the child";
    if (step == exec_request::step::clone) return "cannot create the child process (clone)";
    if (step == exec_request::step::chdir) return "cannot change to working directory '" + opt.cwd + "'";
    if (step == exec_request::step::dup) {
        std::size_t move = ep.failed_dup < p.step_origin.size() ? p.step_origin[ep.failed_dup] : p.dups.size();
        return "cannot place " + describe_dup(opt, p, move) + " in the child";
    }
    if (step == exec_request::step::close) return "cannot close the other descriptors in the child";
    if (step == exec_request::step::group)
        return opt.group == process_group::new_session || wants_terminal(opt) ? "cannot start a new session for the child (setsid)"
                                                       : "cannot start a new process group for the child (setpgid)";
    if (step == exec_request::step::detach) return "cannot detach the child (setsid and the second fork)";
    if (step == exec_request::step::terminal) return "cannot make the terminal the child's controlling terminal (TIOCSCTTY)";
    std::string s = "cannot run '" + p.program + "'";
    std::string seen = as_seen_by_child(p.program, opt);
    struct stat st {};
    if (err == EACCES && ::stat(seen.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return s + ": it is a directory";
        if (::access(seen.c_str(), X_OK) != 0) return s + ": it is not executable";
    }
    if (seen != p.program) return s + " (relative to working directory '" + opt.cwd + "')";
    return s;
}

// A group or a tree of its own (own_tree, kill_on_parent_exit). A group and kill_on_parent_exit
// get a cgroup too where the system allows (tree.cpp), and kill_on_parent_exit hands it to the
// watcher (parent_watch.cpp); otherwise kill_tree() ends the group, or, for a child in our group,
// the descendants found by parent id at the time of the kill.
// Not for a detached child: it has no tree functions, and it must not outlive us in a cgroup
// made under ours and named after us.
void plan_tree(const spawn_options& opt, launch_state& p) {
    bool wanted = opt.group != process_group::inherit || opt.own_tree || opt.kill_on_parent_exit;
    if (!wanted || opt.detached) return;
    p.tree = std::make_shared<process_tree>();
    p.tree->group = opt.group;
    // own_tree alone costs nothing per spawn (a cgroup costs ~0.1 ms: mkdir, the child's move,
    // rmdir): its kill_tree() finds the descendants by parent id.
    if (opt.group == process_group::inherit && !opt.kill_on_parent_exit) return;
    std::string why;  // kept by cgroup_unavailable_reason() for docs and tests
    if (!make_child_cgroup(*p.tree, p.cgroup_procs, why) || !opt.kill_on_parent_exit) return;
    // Registered before the child exists, so no process of its tree is ever outside the watch.
    const auto& path = p.tree->cgroup_path;
    p.tree->exit_watch = kill_on_exit(p.tree->cgroup_dir.get(), path.substr(path.rfind('/') + 1));
}

std::error_code prepare(spawn_plan& plan, launch_state& p, std::string& what) {
    const auto& opt = plan.opt;
    p.detached = opt.detached;
    build_envp(plan, p);
    if (auto ec = resolve_program(opt, p, what)) return ec;
    if (auto ec = open_cwd(opt, p, what)) return ec;
    if (auto ec = plan_descriptors(opt, p.child_fds, p, what)) return ec;
    order_moves(p);
    plan_closes(p);
    plan_tree(opt, p);
    return {};
}

struct spawner_request {
    exec_request* ep;
    pid_t pid;
};
void clone_on_spawner(void* arg) {
    auto* r = static_cast<spawner_request*>(arg);
    r->pid = clone_and_exec(*r->ep);
}

// kill_on_parent_exit: PR_SET_PDEATHSIG fires when the creating *thread* ends, and execve ends
// every thread but its caller (the kernel reparents the children to it and sends the signal).
// From the main thread the child is created right here: it then survives an execve by the main
// thread (the usual caller), and a process whose main thread has gone on is rare. From any other
// thread, by the long-lived spawner thread (tree.hpp), so that the calling thread's exit does
// not kill it; an execve then does. docs/lifetimes.md states both.
pid_t start_child(exec_request& ep, bool parent_death) {
    if (!parent_death || ::syscall(SYS_gettid) == ::getpid()) return clone_and_exec(ep);
    spawner_request r{&ep, -1};
    run_on_spawner_thread(clone_on_spawner, &r);
    return r.pid;
}

// The child's view of the launch state: plain numbers and pointers (exec_child.hpp).
exec_request exec_request_for(const spawn_options& opt, launch_state& p, std::vector<char*>& argv) {
    exec_request ep;
    ep.program = p.program.c_str();
    ep.argv = argv.data();
    ep.envp = p.envp.data();
    ep.cwd_fd = p.cwd ? p.cwd.get() : -1;
    ep.dups = p.steps.data();
    ep.dup_count = p.steps.size();
    ep.closes = p.closes.data();
    ep.close_count = p.closes.size();
    ep.close_from = p.max_target + 1;
    ep.first_close_way = test_switches::first_close_way();
    ep.pid_slots[0] = p.pid_slots[0];
    ep.pid_slots[1] = p.pid_slots[1];
    ep.pid_slot_size = p.pid_slots[0] != nullptr ? pid_slot_size : 0;
    ep.use_fork = use_fork_by_default() || test_switches::fork_path_forced();
    ep.group = static_cast<int>(opt.group);
    ep.terminal_fd = p.terminal ? p.terminal->slave.get() : -1;
    ep.cgroup_procs_fd = p.cgroup_procs ? p.cgroup_procs.get() : -1;
    ep.death_parent = opt.kill_on_parent_exit ? ::getpid() : 0;
    ep.detached = opt.detached;
    return ep;
}

}  // namespace


void launch_state_deleter::operator()(launch_state* s) const noexcept { delete s; }

launch_state_ptr launch_prepare(spawn_plan& plan, std::error_code& ec, std::string& /*what*/) {
    launch_state_ptr p(new launch_state);
    p->child_fds = assign_child_fds(plan.opt);
    for (std::size_t i = 0; i < plan.opt.handles.size(); ++i)
        plan.handles.push_back({plan.opt.handles[i].h.get(), p->child_fds[i]});
    plan.parent_id = current_pid();
    ec.clear();
    return p;
}

std::error_code launch(spawn_plan& plan, launch_state& p, launched& out, std::string& what) {
    const auto& opt = plan.opt;
    if (auto ec = prepare(plan, p, what)) return ec;
    auto argv = c_strings(plan.argv);
    exec_request ep = exec_request_for(opt, p, argv);
    pid_t pid = start_child(ep, opt.kill_on_parent_exit);
    if (pid < 0 || ep.err != 0) {
        // A failed child was reaped by clone_and_exec: no zombie is left behind.
        what = explain_exec_error(ep.err, opt, p, ep);
        return {ep.err != 0 ? ep.err : EIO, std::system_category()};
    }
    if (opt.detached) {
        out.pid = ep.detached_pid;
        return {};
    }
    if (p.tree) confirm_cgroup(*p.tree, pid);
    out.pid = pid;
    out.process = open_pidfd(pid);
    for (int i = 0; i < 3; ++i) out.parent_stdio[i] = std::move(p.parent_stdio[i]);
    if (p.terminal) p.terminal->slave.reset();  // the child has it: end-of-file once it (and its heirs) close it
    out.terminal = std::move(p.terminal);
    out.tree = std::move(p.tree);
    return {};
}

}  // namespace detail
}  // namespace tether
