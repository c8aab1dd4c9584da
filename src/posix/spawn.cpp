// POSIX backend: spawn() with posix_spawn (glibc uses clone(CLONE_VM|CLONE_VFORK), so the cost
// does not grow with our memory and exec failure comes back as an error, not an exit code).
//
// The child receives exactly: fds 0-2 as configured and each passed handle at its number.
// Everything else is closed by posix_spawn_file_actions_addclosefrom_np (close_range in the
// child), or, where that is missing at run time, by a close action per descriptor found in
// /proc/self/fd. No code of ours runs between fork and exec, so there is nothing to keep
// async-signal-safe, and since nothing we create is ever inheritable, no lock is needed.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/os.hpp"
#include "detail/spawn_plan.hpp"
#include "posix/knobs.hpp"
#include "posix/process.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

extern char** environ;  // NOLINT: POSIX names it so

// Resolved at run time: a binary built on a new glibc may run on an old one.
#pragma weak posix_spawn_file_actions_addclosefrom_np

namespace tether {
namespace detail {
namespace {

std::atomic<bool> closefrom_fallback_forced{false};

// RAII for the two posix_spawn objects.
struct file_actions {
    posix_spawn_file_actions_t fa{};
    file_actions() { posix_spawn_file_actions_init(&fa); }
    ~file_actions() { posix_spawn_file_actions_destroy(&fa); }
    file_actions(const file_actions&) = delete;
    file_actions& operator=(const file_actions&) = delete;
};
struct spawn_attr {
    posix_spawnattr_t attr{};
    spawn_attr() { posix_spawnattr_init(&attr); }
    ~spawn_attr() { posix_spawnattr_destroy(&attr); }
    spawn_attr(const spawn_attr&) = delete;
    spawn_attr& operator=(const spawn_attr&) = delete;
};

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
    std::vector<unique_handle> relocated; // copies moved above the highest target number
    struct dup { int from, to; };
    std::vector<dup> dups;                // in order: stdio first, then passed handles
    int max_target{2};
};

std::error_code os_error(std::string& what, std::string text) {
    auto ec = last_os_error();
    what = std::move(text);
    return ec;
}

bool is_executable_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// The child's environment as pointers: the inherited strings stay where they are in `environ`
// (no copy per spawn), only the added ones are stored in the plan.
void build_envp(const spawn_options& opt, const std::string& manifest, plan& p) {
    p.env_added = added_environment(opt, manifest, std::to_string(current_pid()), false);
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
        if (is_executable_file(candidate)) {
            p.program = candidate;
            return {};
        }
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    what = "program '" + name + "' not found in PATH (" + dirs + ")";
    return std::error_code(ENOENT, std::system_category());
}

// Moves `fd` above every target number if it sits at or below one, so that no dup2 in the
// child can overwrite a source another dup2 still needs. The copy is close-on-exec.
std::error_code ensure_above(int& fd, plan& p, std::string& what) {
    if (fd > p.max_target) return {};
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, p.max_target + 1);
    if (moved < 0) return os_error(what, "duplicate descriptor " + std::to_string(fd));
    p.relocated.emplace_back(moved);
    fd = moved;
    return {};
}

std::error_code open_null(plan& p, std::string& what) {
    if (p.null_dev) return {};
    int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) return os_error(what, "open /dev/null");
    p.null_dev.reset(fd);
    return {};
}

// The source descriptor for stdio stream `target` (0, 1, 2), or -1 to leave it as ours.
std::error_code stdio_source(const stdio& s, int target, plan& p, int& src, std::string& what) {
    src = -1;
    switch (s.how) {
        case stdio::kind::inherit: return {};
        case stdio::kind::to_stdout: src = 1; return {};  // dup2(1, 2) after stdout is in place
        case stdio::kind::handle: src = s.h.get(); return {};
        case stdio::kind::null:
            if (auto ec = open_null(p, what)) return ec;
            src = p.null_dev.get();
            return {};
        case stdio::kind::pipe: {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0) return os_error(what, "pipe2 for stdio");
            bool child_reads = target == 0;
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

// A target number the child could not hold (and that we could not relocate above) is the
// caller's mistake: say so, rather than fail later in a dup with EINVAL.
std::error_code check_target_limit(const std::vector<int>& child_fds, std::string& what) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return {};
    for (int fd : child_fds) {
        if (static_cast<rlim_t>(fd) + 1 >= lim.rlim_cur) {
            what = "child descriptor " + std::to_string(fd) + " is too high: the limit is " +
                   std::to_string(lim.rlim_cur) + " (RLIMIT_NOFILE) and spawn needs one number above it";
            return errc::invalid_argument;
        }
    }
    return {};
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
        if (streams[target]->how != stdio::kind::to_stdout)
            if (auto ec = ensure_above(src, p, what)) return ec;
        p.dups.push_back({src, target});
    }
    for (std::size_t i = 0; i < opt.handles.size(); ++i) {
        int src = opt.handles[i].h.get();
        if (auto ec = ensure_above(src, p, what)) return ec;
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

// Close actions for every descriptor above the targets: the run-time fallback for a libc
// without addclosefrom_np. Racy against other threads opening descriptors without O_CLOEXEC
// at this very moment; the primary path has no such window.
std::error_code close_listed_descriptors(posix_spawn_file_actions_t* fa, int from, std::string& what) {
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return os_error(what, "opendir /proc/self/fd");
    int own = ::dirfd(d);
    std::error_code ec;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        long fd = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || fd < from || fd == own) continue;
        if (int rc = posix_spawn_file_actions_addclose(fa, static_cast<int>(fd))) {
            // EBADF here means a descriptor above the RLIMIT_NOFILE soft limit (opened before the
            // limit was lowered): a close action cannot name it, and it must not leak.
            ec = {rc, std::system_category()};
            what = "descriptor " + std::to_string(fd) +
                   " cannot be closed in the child by the close fallback (above RLIMIT_NOFILE?)";
            break;
        }
    }
    ::closedir(d);
    return ec;
}

std::error_code add_close_others(posix_spawn_file_actions_t* fa, const plan& p, std::string& what) {
    // Gaps below the highest target (e.g. only fd 10 passed) may hold stray descriptors too.
    for (int fd = 3; fd < p.max_target; ++fd) {
        bool target = std::any_of(p.dups.begin(), p.dups.end(), [&](const plan::dup& d) { return d.to == fd; });
        if (target) continue;
        if (int rc = posix_spawn_file_actions_addclose(fa, fd)) {
            what = "posix_spawn_file_actions_addclose " + std::to_string(fd);
            return {rc, std::system_category()};
        }
    }
    int from = p.max_target + 1;
    if (!closefrom_fallback_forced.load(std::memory_order_relaxed) &&
        &posix_spawn_file_actions_addclosefrom_np != nullptr) {
        int rc = posix_spawn_file_actions_addclosefrom_np(fa, from);
        if (rc == 0) return {};
        if (rc != ENOSYS && rc != EINVAL) {
            what = "posix_spawn_file_actions_addclosefrom_np";
            return {rc, std::system_category()};
        }
    }
    return close_listed_descriptors(fa, from, what);
}

std::error_code build_file_actions(posix_spawn_file_actions_t* fa, const plan& p, std::string& what) {
    // fchdir comes first: the directory descriptor may sit at a number that a dup2 below
    // overwrites in the child (e.g. it is fd 5 and a handle is passed at 5).
    if (p.cwd) {
        if (int rc = posix_spawn_file_actions_addfchdir_np(fa, p.cwd.get())) {
            what = "posix_spawn_file_actions_addfchdir_np";
            return {rc, std::system_category()};
        }
    }
    for (const auto& d : p.dups) {
        if (int rc = posix_spawn_file_actions_adddup2(fa, d.from, d.to)) {
            what = "posix_spawn_file_actions_adddup2 " + std::to_string(d.from) + " -> " + std::to_string(d.to);
            return {rc, std::system_category()};
        }
    }
    return add_close_others(fa, p, what);
}

void build_attributes(posix_spawnattr_t* attr) {
    // The child starts with no signal blocked (our thread may block SIGPIPE during a write), and
    // with SIGPIPE and SIGXFSZ at their defaults even if we ignore them, as Python and Rust do.
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGXFSZ);
    posix_spawnattr_setsigmask(attr, &none);
    posix_spawnattr_setsigdefault(attr, &defaults);
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    out.reserve(v.size() + 1);
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Turns posix_spawn's errno into a sentence about the program.
std::string explain_exec_error(int err, const spawn_options& opt, const plan& p) {
    std::string s = "cannot run '" + p.program + "'";
    struct stat st {};
    if (err == EACCES && ::stat(p.program.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return s + ": it is a directory";
        if (::access(p.program.c_str(), X_OK) != 0) return s + ": it is not executable";
    }
    if (err == ENOENT && !opt.cwd.empty() && p.program.find('/') != std::string::npos && p.program[0] != '/')
        return s + " (relative to working directory '" + opt.cwd + "')";
    return s;
}

std::error_code prepare(spawn_options& opt, plan& p, std::string& what) {
    if (auto ec = validate_spawn_options(opt, what)) return ec;
    auto child_fds = assign_child_fds(opt);
    std::vector<handle_mapping> map;
    for (std::size_t i = 0; i < opt.handles.size(); ++i) map.push_back({opt.handles[i].h.get(), child_fds[i]});
    p.argv = opt.argv;
    if (auto ec = substitute_handle_args(p.argv, map, what)) return ec;
    build_envp(opt, manifest_for(opt, map), p);
    if (auto ec = resolve_program(opt, p, what)) return ec;
    if (auto ec = open_cwd(opt, p, what)) return ec;
    return plan_descriptors(opt, child_fds, p, what);
}

}  // namespace

void force_closefrom_fallback(bool on) noexcept { closefrom_fallback_forced.store(on); }

}  // namespace detail

child spawn(spawn_options&& opt, std::error_code& ec) {
    std::string what;
    return detail::spawn_impl(opt, ec, what);
}

child spawn(spawn_options&& opt) {
    std::error_code ec;
    std::string what;
    child c = detail::spawn_impl(opt, ec, what);
    if (ec) throw_error(ec, detail::spawn_context(opt) + (what.empty() ? "" : ": " + what));
    return c;
}

namespace detail {

child spawn_impl(spawn_options& opt, std::error_code& ec, std::string& what) {
    reap_detached();
    plan p;
    if ((ec = prepare(opt, p, what))) return {};
    file_actions fa;
    spawn_attr attr;
    if ((ec = build_file_actions(&fa.fa, p, what))) return {};
    build_attributes(&attr.attr);
    auto argv = c_strings(p.argv);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, p.program.c_str(), &fa.fa, &attr.attr, argv.data(), p.envp.data());
    if (rc != 0) {
        // glibc has already reaped the failed child: no zombie is left behind.
        ec = {rc, std::system_category()};
        what = explain_exec_error(rc, opt, p);
        return {};
    }
    ec.clear();
    // Success: the parent's copies of everything the child received are closed now.
    for (auto& h : opt.handles) h.h.reset();
    opt.in.h.reset();
    opt.out.h.reset();
    opt.err.h.reset();
    return make_child(pid, opt.kill_on_destroy, std::move(p.parent_stdio[0]), std::move(p.parent_stdio[1]),
                      std::move(p.parent_stdio[2]));
}

}  // namespace detail
}  // namespace tether
