// POSIX backend: spawn(). The parent prepares everything (the program's path, argv, envp,
// which descriptor goes where, what to close); exec_child.cpp then starts the child with
// clone(CLONE_VM | CLONE_VFORK), so the cost does not grow with our memory and exec failure
// comes back as an error, not an exit code.
//
// The child receives exactly: fds 0-2 as configured and each passed handle at its number.
// Everything else is closed in the child by close_range, or, where that fails at run time, by
// closing what /proc/self/fd lists. Since nothing tether creates is ever inheritable, another
// thread's spawn can never pick up our descriptors: no lock is needed.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/manifest.hpp"
#include "detail/os.hpp"
#include "detail/spawn_plan.hpp"
#include "linux/exec_child.hpp"
#include "linux/knobs.hpp"
#include "linux/process.hpp"
#include "linux/tree.hpp"

#include <algorithm>
#include <atomic>
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

std::atomic<close_way> close_way_forced{close_way::cloexec_range};
std::atomic<bool> fork_path_forced{false};
std::atomic<int> race_ready_fd{-1}, race_go_fd{-1};

// The manifest's TETHER_CHILD_PID entry is written by the child itself (exec_child.cpp): room
// for any pid_t in decimal and the NUL.
constexpr std::size_t pid_slot_size = 24;

// What the parent prepares before posix_spawn; owns every temporary descriptor.
struct plan {
    std::string program;                  // resolved path
    std::vector<std::string> argv;        // placeholders substituted
    std::vector<std::string> env_added;   // variables we add; the inherited ones are not copied
    std::vector<char*> envp;              // the child's environment, null-terminated
    unique_handle cwd;                    // O_PATH directory, for fchdir in the child
    unique_handle null_dev;               // /dev/null, shared by all null streams
    unique_handle parent_stdio[3];        // our ends of stdio::pipe() streams
    unique_handle child_stdio_pipe[3];    // their ends of those pipes
    std::vector<exec_plan::dup_step> dups;  // the moves: stdio first, then passed handles
    std::vector<exec_plan::dup_step> steps; // the moves as the child makes them (order_moves)
    std::vector<std::size_t> step_origin;   // for each step, its move's index in dups
    std::vector<int> closes;              // gaps below the highest target
    int max_target{2};
    bool detached{false};
    char* pid_slots[2]{nullptr, nullptr};  // TETHER_CHILD_PID's and LISTEN_PID's values, in env_added
    std::shared_ptr<process_tree> tree;   // a group of its own: its cgroup, if any
    unique_handle cgroup_procs;           // the child writes itself in here
};

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
// (no copy per spawn), only the added ones are stored in the plan.
void build_envp(const spawn_options& opt, const std::string& manifest, plan& p) {
    p.env_added = added_environment(opt, manifest, std::to_string(current_pid()), false);
    // Filled in by the child with its own id. Each slot is longer than any short-string buffer,
    // so its characters stay where they are when the vector grows.
    const char* slot_names[2] = {manifest.empty() ? nullptr : manifest_child_variable,
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

const char* child_path_variable(const plan& p) {
    for (char* const* e = p.envp.data(); *e != nullptr; ++e)
        if (std::strncmp(*e, "PATH=", 5) == 0) return *e + 5;
    return nullptr;
}

// execvp's rules, but over the child's PATH and done before spawning, so the error can name it.
// A name with a '/' is used as it is (no search, no system call).
std::error_code resolve_program(const spawn_options& opt, plan& p, std::string& what) {
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

std::error_code open_null(plan& p, std::string& what) {
    if (p.null_dev) return {};
    int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) return os_error(what, "open /dev/null");
    p.null_dev.reset(fd);
    return {};
}

// A detached child gets the null device for the streams left as ours: it outlives our terminal.
stdio::kind effective_kind(const stdio& s, bool detached) {
    return detached && s.how == stdio::kind::inherit ? stdio::kind::null : s.how;
}

const char* stream_name(int target) { return target == 0 ? "stdin" : target == 1 ? "stdout" : "stderr"; }

// The source descriptor for stdio stream `target` (0, 1, 2), or -1 to leave it as ours.
std::error_code stdio_source(const stdio& s, int target, plan& p, int& src, std::string& what) {
    src = -1;
    switch (effective_kind(s, p.detached)) {
        case stdio::kind::inherit: return {};
        case stdio::kind::to_stdout: src = 1; return {};  // dup2(1, 2) after stdout is in place
        case stdio::kind::handle:
            src = s.h.get();
            if (::fcntl(src, F_GETFD) < 0)
                return os_error(what, std::string(stream_name(target)) + " is stdio::from() descriptor " +
                                          std::to_string(src) + ", which is not open");
            return {};
        case stdio::kind::null:
            if (auto ec = open_null(p, what)) return ec;
            src = p.null_dev.get();
            return {};
        case stdio::kind::pipe: {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0)
                return os_error(what, std::string("cannot create the pipe for ") + stream_name(target));
            bool child_reads = target == 0;
            detail::set_pipe_capacity(fds[0], s.capacity);
            p.parent_stdio[target].reset(child_reads ? fds[1] : fds[0]);
            p.child_stdio_pipe[target].reset(child_reads ? fds[0] : fds[1]);
            src = p.child_stdio_pipe[target].get();
            return {};
        }
    }
    return {};
}

// Numbers passed handles get in the child: the caller's choice, else the next free from 3.
std::vector<int> assign_child_fds(const spawn_options& opt) {
    std::vector<int> taken;
    for (const auto& h : opt.handles)
        if (h.child_fd >= 0) taken.push_back(h.child_fd);
    std::vector<int> out;
    int next = 3;
    for (const auto& h : opt.handles) {
        if (h.child_fd >= 0) {
            out.push_back(h.child_fd);
            continue;
        }
        while (std::find(taken.begin(), taken.end(), next) != taken.end()) ++next;
        taken.push_back(next);
        out.push_back(next++);
    }
    return out;
}

// A target number at or above RLIMIT_NOFILE cannot exist in the child (dup2 would fail there
// with EBADF): that is the descriptor limit, reported as EMFILE naming both numbers. Below it
// every target works: the moves need no number above the targets (order_moves).
std::error_code check_target_limit(const std::vector<int>& child_fds, std::string& what) {
    if (child_fds.empty()) return {};  // no target number to check: spare the system call
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return {};
    for (int fd : child_fds) {
        if (static_cast<rlim_t>(fd) >= lim.rlim_cur) {
            what = "child descriptor " + std::to_string(fd) + " is at or above the descriptor limit " +
                   std::to_string(lim.rlim_cur) + " (RLIMIT_NOFILE): the child cannot hold it";
            return {EMFILE, std::system_category()};
        }
    }
    return {};
}

// Pending move i can be made now: no other pending move still reads its target.
bool target_free(const std::vector<exec_plan::dup_step>& moves, const std::vector<bool>& pending, std::size_t i) {
    for (std::size_t j = 0; j < moves.size(); ++j)
        if (j != i && pending[j] && moves[j].how == exec_plan::dup_step::kind::move && moves[j].from == moves[i].to)
            return false;
    return true;
}

// The moves (all targets distinct) as a sequence the child runs in order, with no number
// needed above the targets: a move is made only when no later move still reads its target; a
// source already at its target just loses close-on-exec (dup2 onto itself would keep it). When
// every pending move waits for another, they form cycles (each number has one writer): the
// first one's target is saved to a temporary (the lowest free number, in the child), its
// readers read that, and the cycle unwinds; the temporary is closed after its last reader.
void order_moves(plan& p) {
    using kind = exec_plan::dup_step::kind;
    std::vector<exec_plan::dup_step> moves = p.dups;
    std::vector<bool> pending(moves.size(), true);
    std::size_t left = moves.size();
    auto emit = [&](exec_plan::dup_step d, std::size_t origin) {
        p.steps.push_back(d);
        p.step_origin.push_back(origin);
    };
    while (left > 0) {
        bool progress = false;
        for (std::size_t i = 0; i < moves.size(); ++i) {
            if (!pending[i]) continue;
            auto& m = moves[i];
            bool self = m.how == kind::move && m.from == m.to;
            if (!self && !target_free(moves, pending, i)) continue;
            emit(self ? exec_plan::dup_step{m.from, m.to, m.only_if_inheritable, kind::keep} : m, i);
            pending[i] = false;
            --left;
            progress = true;
            bool reader_left = false;
            for (std::size_t j = 0; j < moves.size(); ++j) reader_left |= pending[j] && moves[j].how == kind::from_saved;
            if (m.how == kind::from_saved && !reader_left) emit({-1, -1, false, kind::drop_saved}, i);
        }
        if (progress) continue;
        auto first = static_cast<std::size_t>(std::find(pending.begin(), pending.end(), true) - pending.begin());
        int saved = moves[first].to;
        emit({saved, -1, false, kind::save}, first);
        for (std::size_t j = 0; j < moves.size(); ++j)
            if (pending[j] && moves[j].how == kind::move && moves[j].from == saved) moves[j].how = kind::from_saved;
    }
}

std::string passed_name(const spawn_options& opt, std::size_t i) {
    std::string which = "passed handle #" + std::to_string(i + 1);
    if (!opt.handles[i].name.empty()) which += " ('" + opt.handles[i].name + "')";
    return which;
}

std::error_code plan_descriptors(const spawn_options& opt, const std::vector<int>& child_fds, plan& p,
                                 std::string& what) {
    if (auto ec = check_target_limit(child_fds, what)) return ec;
    for (int fd : child_fds) p.max_target = std::max(p.max_target, fd);
    const stdio* streams[3] = {&opt.in, &opt.out, &opt.err};
    for (int target = 0; target < 3; ++target) {
        int src = -1;
        if (auto ec = stdio_source(*streams[target], target, p, src, what)) return ec;
        if (src < 0) continue;
        bool into_stdout = streams[target]->how == stdio::kind::to_stdout;
        bool stdout_inherited = effective_kind(opt.out, p.detached) == stdio::kind::inherit;
        // Into a redirected stdout: the same source as stdout's (the moves read the numbers as
        // they were before any move). Into an inherited stdout: our fd 1 may be one of our own
        // close-on-exec descriptors (stdout was closed); the child then closes 2 rather than
        // receive it.
        if (into_stdout && !stdout_inherited)
            for (const auto& d : p.dups)
                if (d.to == 1) src = d.from;
        p.dups.push_back({src, target, into_stdout && stdout_inherited});
    }
    for (std::size_t i = 0; i < opt.handles.size(); ++i) {
        int src = opt.handles[i].h.get();
        std::string which = passed_name(opt, i);
        if (::fcntl(src, F_GETFD) < 0)
            return os_error(what, which + " (descriptor " + std::to_string(src) + ") is not open");
        p.dups.push_back({src, child_fds[i]});
    }
    return {};
}

std::error_code open_cwd(const spawn_options& opt, plan& p, std::string& what) {
    if (opt.cwd.empty()) return {};
    int fd = ::open(opt.cwd.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return os_error(what, "working directory '" + opt.cwd + "'");
    p.cwd.reset(fd);
    return {};
}

// Numbers between 3 and the highest target that are not targets: closed in the child one by
// one (a pass_at(10) leaves 3..9 to clean); everything above the highest target goes by
// close_range there.
void plan_closes(plan& p) {
    for (int fd = 3; fd < p.max_target; ++fd) {
        bool target = std::any_of(p.dups.begin(), p.dups.end(), [&](const exec_plan::dup_step& d) { return d.to == fd; });
        if (!target) p.closes.push_back(fd);
    }
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
std::string describe_dup(const spawn_options& opt, const plan& p, std::size_t index) {
    if (index >= p.dups.size()) return "a descriptor";
    const auto& d = p.dups[index];
    std::size_t stdio_count = p.dups.size() - opt.handles.size();
    std::string which = index < stdio_count ? std::string(stream_name(d.to)) : passed_name(opt, index - stdio_count);
    return which + " (descriptor " + std::to_string(d.from) + ") as descriptor " + std::to_string(d.to);
}

// Turns the child's (or the setup's) errno into a sentence about the program.
std::string explain_exec_error(int err, const spawn_options& opt, const plan& p, const exec_plan& ep) {
    auto step = ep.failed_step;
    if (step == exec_plan::step::report_pipe) return "cannot create spawn's own report pipe";
    if (step == exec_plan::step::stack) return "cannot map the stack for the child";
    if (step == exec_plan::step::clone) return "cannot create the child process (clone)";
    if (step == exec_plan::step::chdir) return "cannot change to working directory '" + opt.cwd + "'";
    if (step == exec_plan::step::dup) {
        std::size_t move = ep.failed_dup < p.step_origin.size() ? p.step_origin[ep.failed_dup] : p.dups.size();
        return "cannot place " + describe_dup(opt, p, move) + " in the child";
    }
    if (step == exec_plan::step::close) return "cannot close the other descriptors in the child";
    if (step == exec_plan::step::group)
        return opt.group == process_group::new_session ? "cannot start a new session for the child (setsid)"
                                                       : "cannot start a new process group for the child (setpgid)";
    if (step == exec_plan::step::detach) return "cannot detach the child (setsid and the second fork)";
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

// A group of its own: a cgroup too where the system allows (tree.cpp); else the group alone.
// Not for a detached child: it has no tree functions, and it must not outlive us in a cgroup
// made under ours and named after us.
void plan_tree(const spawn_options& opt, plan& p) {
    if (opt.group == process_group::inherit || opt.detached) return;
    p.tree = std::make_shared<process_tree>();
    p.tree->group = opt.group;
    std::string why;  // kept by cgroup_unavailable_reason() for docs and tests
    make_child_cgroup(*p.tree, p.cgroup_procs, why);
}

std::error_code prepare(spawn_options& opt, plan& p, std::string& what) {
    if (auto ec = validate_spawn_options(opt, what)) return ec;
    p.detached = opt.detached;
    auto child_fds = assign_child_fds(opt);
    std::vector<handle_mapping> map;
    for (std::size_t i = 0; i < opt.handles.size(); ++i) map.push_back({opt.handles[i].h.get(), child_fds[i]});
    p.argv = opt.argv;
    if (auto ec = substitute_handle_args(p.argv, map, what)) return ec;
    build_envp(opt, manifest_for(opt, map), p);
    if (auto ec = resolve_program(opt, p, what)) return ec;
    if (auto ec = open_cwd(opt, p, what)) return ec;
    if (auto ec = plan_descriptors(opt, child_fds, p, what)) return ec;
    order_moves(p);
    plan_closes(p);
    plan_tree(opt, p);
    return {};
}

struct spawner_request {
    exec_plan* ep;
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
pid_t start_child(exec_plan& ep, bool parent_death) {
    if (!parent_death || ::syscall(SYS_gettid) == ::getpid()) return clone_and_exec(ep);
    spawner_request r{&ep, -1};
    run_on_spawner_thread(clone_on_spawner, &r);
    return r.pid;
}

}  // namespace

void force_close_way(close_way way) noexcept { close_way_forced.store(way); }
void force_fork_path(bool on) noexcept { fork_path_forced.store(on); }
void force_parent_death_race(int ready_fd, int go_fd) noexcept {
    race_ready_fd.store(ready_fd);
    race_go_fd.store(go_fd);
}

child spawn_impl(spawn_options& opt, std::error_code& ec, std::string& what) {
    reap_detached();
    plan p;
    if ((ec = prepare(opt, p, what))) return {};
    auto argv = c_strings(p.argv);
    exec_plan ep;
    ep.program = p.program.c_str();
    ep.argv = argv.data();
    ep.envp = p.envp.data();
    ep.cwd_fd = p.cwd ? p.cwd.get() : -1;
    ep.dups = p.steps.data();
    ep.dup_count = p.steps.size();
    ep.closes = p.closes.data();
    ep.close_count = p.closes.size();
    ep.close_from = p.max_target + 1;
    ep.first_close_way = close_way_forced.load(std::memory_order_relaxed);
    ep.pid_slots[0] = p.pid_slots[0];
    ep.pid_slots[1] = p.pid_slots[1];
    ep.pid_slot_size = p.pid_slots[0] != nullptr ? pid_slot_size : 0;
    ep.use_fork = use_fork_by_default() || fork_path_forced.load(std::memory_order_relaxed);
    ep.group = static_cast<int>(opt.group);
    ep.cgroup_procs_fd = p.cgroup_procs ? p.cgroup_procs.get() : -1;
    ep.death_parent = opt.kill_on_parent_exit ? ::getpid() : 0;
    ep.race_ready_fd = race_ready_fd.load(std::memory_order_relaxed);
    ep.race_go_fd = race_go_fd.load(std::memory_order_relaxed);
    ep.detached = opt.detached;
    pid_t pid = start_child(ep, opt.kill_on_parent_exit);
    if (pid < 0 || ep.err != 0) {
        // A failed child was reaped by clone_and_exec: no zombie is left behind.
        ec = {ep.err != 0 ? ep.err : EIO, std::system_category()};
        what = explain_exec_error(ep.err, opt, p, ep);
        return {};
    }
    ec.clear();
    // Success: the parent's copies of everything the child received are closed now.
    for (auto& h : opt.handles) h.h.reset();
    opt.in.h.reset();
    opt.out.h.reset();
    opt.err.h.reset();
    if (opt.detached) return make_detached_child(ep.detached_pid);
    if (p.tree) confirm_cgroup(*p.tree, pid);
    return make_child(pid, opt.kill_on_destroy, std::move(p.parent_stdio[0]), std::move(p.parent_stdio[1]),
                      std::move(p.parent_stdio[2]), std::move(p.tree));
}

}  // namespace detail
}  // namespace tether
