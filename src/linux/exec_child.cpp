// POSIX backend: the code that runs between clone and exec — and only here.
//
// Why not posix_spawn: it closes the other descriptors only with addclosefrom_np (glibc 2.34);
// without it the parent would have to list /proc/self/fd and add a close action per descriptor,
// racing every thread that opens one meanwhile. Here the child itself closes: close_range, or,
// where that fails at run time, its own /proc/self/fd listing. It also says which step failed
// (working directory, descriptors, exec) instead of one errno for all. Everything else mirrors
// glibc's posix_spawn: clone(CLONE_VM | CLONE_VFORK) so the cost does not grow with our memory,
// all signals blocked around the clone, handlers reset in the child (it shares our memory, so
// one of our handlers must never run there).
//
// The child side is allocation-free and calls only async-signal-safe functions; it ends in
// execve or _exit, never returns into caller code.
#include "linux/exec_child.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Built against older kernel headers, the number is still known: 436 on every architecture
// (the syscall table was unified from 424 on). Whether the kernel has it is decided at run time.
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

namespace tether::detail {
namespace {

constexpr std::size_t child_stack_size = 64 * 1024;  // the child needs a few KiB at most

// Set once a child marked the request (child_shared_memory): clone honours CLONE_VM in this
// process, and it does not stop doing so (valgrind, which runs every vfork as a fork, never
// does). From then on a child started by clone needs no report pipe: its outcome is in the
// request when clone returns. That saves each spawn five system calls (pipe2, fcntl, three
// closes) and the two descriptors an almost full table may not have.
std::atomic<bool> clone_shares_memory{false};

// The child's stack, one per spawning thread and kept for the thread's life: a spawn then
// neither maps nor unmaps one, nor faults its pages in again. A thread runs one clone at a
// time (CLONE_VFORK suspends it until the child's exec or exit), so one stack is enough.
class child_stack {
public:
    child_stack() = default;
    child_stack(const child_stack&) = delete;
    child_stack& operator=(const child_stack&) = delete;
    ~child_stack() {
        if (base_ != nullptr) ::munmap(base_, child_stack_size);
    }
    /// The top of the stack (it grows down), or nullptr with errno set.
    char* top() noexcept {
        if (base_ == nullptr) {
            void* m = ::mmap(nullptr, child_stack_size, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
            if (m == MAP_FAILED) return nullptr;
            base_ = m;
        }
        return static_cast<char*>(base_) + child_stack_size;
    }

private:
    void* base_{nullptr};
};
thread_local child_stack spawn_stack;

// The kernel's signal mask is 64 bits here; glibc's sigfillset leaves out its two internal
// signals, which must be blocked too while the child shares our memory.
void set_kernel_mask(std::uint64_t mask, std::uint64_t* old) noexcept {
    ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, old, sizeof mask);
}

// A failure (err != 0), or, from a detached child, its id (err == 0, pid set) first.
struct failure_record {
    int err;
    int step;
    int dup_index;
    int pid;
};

[[noreturn]] void fail(exec_request& p, exec_request::step s, std::size_t dup_index = 0) noexcept {
    failure_record rec{errno != 0 ? errno : EIO, static_cast<int>(s), static_cast<int>(dup_index), 0};
    p.err = rec.err;
    p.failed_step = s;
    p.failed_dup = dup_index;
    while (p.report_fd >= 0 && ::write(p.report_fd, &rec, sizeof rec) < 0 && errno == EINTR) {
    }
    ::_exit(127);
}

// A handler of ours must never run in the child (it would run on our memory): every caught
// signal goes back to SIG_DFL; ignored ones stay ignored except SIGPIPE and SIGXFSZ, which a
// program expects at their defaults (as Python and Rust do).
void reset_signals() noexcept {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        struct sigaction cur {};
        if (::sigaction(sig, nullptr, &cur) != 0) continue;  // SIGKILL, SIGSTOP, glibc-internal
        bool keep = cur.sa_handler == SIG_DFL || (cur.sa_handler == SIG_IGN && sig != SIGPIPE && sig != SIGXFSZ);
        if (!keep) ::sigaction(sig, &dfl, nullptr);
    }
}

int parse_fd(const char* name) noexcept {
    if (*name < '0' || *name > '9') return -1;
    long v = 0;
    for (; *name >= '0' && *name <= '9'; ++name) v = v * 10 + (*name - '0');
    return *name == '\0' && v <= 0x7fffffff ? static_cast<int>(v) : -1;
}

// The fallback of close_range (Linux < 5.9, or refused by a seccomp filter): list
// /proc/self/fd with getdents64 into a stack buffer and close what is at or above `from`.
// The listing changes as we close, so start over until a pass closes nothing.
bool close_by_listing(int from, int keep) noexcept {
    int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return false;
    alignas(dirent64) char buf[2048];
    for (;;) {
        long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n < 0) {
            ::close(dir);
            return false;
        }
        if (n == 0) break;
        bool closed = false;
        for (long off = 0; off < n;) {
            auto* d = reinterpret_cast<dirent64*>(buf + off);  // NOLINT: the getdents64 layout
            off += d->d_reclen;
            int fd = parse_fd(d->d_name);
            if (fd >= from && fd != dir && fd != keep) closed = ::close(fd) == 0 || closed;
        }
        if (closed) ::lseek(dir, 0, SEEK_SET);
    }
    ::close(dir);
    return true;
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Everything at or above close_from goes, except the report pipe (itself close-on-exec), if any.
bool close_range_around(int from, int keep, unsigned flags) noexcept {
    if (keep < from) return ::syscall(SYS_close_range, from, ~0U, flags) == 0;
    if (keep > from && ::syscall(SYS_close_range, from, keep - 1, flags) != 0) return false;
    return ::syscall(SYS_close_range, keep + 1, ~0U, flags) == 0;
}

// With CLOSE_RANGE_CLOEXEC the report pipe needs no gap: it is close-on-exec already. The
// 5,000 descriptors of a busy server are then closed by execve, after it has released the
// vfork parent, instead of one by one while the parent waits.
bool close_others(const exec_request& p) noexcept {
    for (std::size_t i = 0; i < p.close_count; ++i)
        if (p.closes[i] != p.report_fd) ::close(p.closes[i]);  // EBADF: was not open
    switch (p.first_close_way) {
    case close_way::cloexec_range:
        if (::syscall(SYS_close_range, p.close_from, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return true;
        [[fallthrough]];  // EINVAL before Linux 5.11
    case close_way::close_range:
        if (close_range_around(p.close_from, p.report_fd, 0)) return true;
        [[fallthrough]];  // ENOSYS before Linux 5.9, or a seccomp filter
    case close_way::listing:
        break;
    }
    return close_by_listing(p.close_from, p.report_fd);
}

// One step of the request's sequence (exec_request::dup_step::kind); `saved` is the temporary that
// breaks a cycle. A conditional step (stderr into an inherited stdout) closes the target
// instead when the source would not survive exec: closed, or close-on-exec (one of our own).
bool place(const exec_request::dup_step& d, int& saved) noexcept {
    using kind = exec_request::dup_step::kind;
    if (d.only_if_inheritable) {
        int flags = ::fcntl(d.from, F_GETFD);
        if (flags < 0 || (flags & FD_CLOEXEC) != 0) {
            ::close(d.to);  // EBADF: was not open
            return true;
        }
    }
    switch (d.how) {
    case kind::move: return ::dup2(d.from, d.to) >= 0;
    case kind::keep: {
        int flags = ::fcntl(d.from, F_GETFD);
        return flags >= 0 && ::fcntl(d.from, F_SETFD, flags & ~FD_CLOEXEC) == 0;
    }
    case kind::save: return (saved = ::fcntl(d.from, F_DUPFD_CLOEXEC, 0)) >= 0;
    case kind::from_saved: return ::dup2(saved, d.to) >= 0;
    case kind::drop_saved: ::close(saved); return true;
    }
    return false;
}

// Our own process id in decimal into the reserved slots (no allocation, no stdio).
void write_own_pid(const exec_request& p) noexcept {
    if (p.pid_slot_size < 2) return;
    char digits[24];
    std::size_t n = 0;
    for (auto v = static_cast<unsigned long>(::getpid()); n == 0 || v != 0; v /= 10)
        digits[n++] = static_cast<char>('0' + v % 10);
    if (n + 1 > p.pid_slot_size) n = 0;  // cannot happen: a slot holds any pid_t; write ""
    for (char* slot : p.pid_slots) {
        if (slot == nullptr) continue;
        for (std::size_t i = 0; i < n; ++i) slot[i] = digits[n - 1 - i];
        slot[n] = '\0';
    }
}

// Parent death: the signal is tied to the thread that created us (spawn.cpp uses one that
// lives as long as the process); a parent that died before prctl left us re-parented.
void arm_parent_death(const exec_request& p) noexcept {
    if (p.death_parent == 0) return;
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != p.death_parent) ::_exit(127);
}

// The group, session and cgroup come before anything that could start another process. A
// detached child's session is made by detach(): a second setsid() here would fail (EPERM, we
// would lead a session already). A terminal needs a session (only a session leader may take a
// controlling terminal), which is a process group of its own too: setpgid is skipped then.
void place_process(exec_request& p) noexcept {
    bool session = p.group == 2 || p.terminal_fd >= 0;
    if (p.group == 1 && !session && ::setpgid(0, 0) != 0) fail(p, exec_request::step::group);
    if (session && !p.detached && ::setsid() < 0) fail(p, exec_request::step::group);
    if (p.terminal_fd >= 0 && ::ioctl(p.terminal_fd, TIOCSCTTY, 0) != 0) fail(p, exec_request::step::terminal);
    // A write that fails leaves the child outside; spawn.cpp checks and falls back to the group.
    if (p.cgroup_procs_fd >= 0) (void)!::write(p.cgroup_procs_fd, "0", 1);
}

// Detached: a raw fork (no glibc atfork handlers, we may share the parent's memory); the first
// child exits, the second is re-parented to init. One setsid() per spawn: by default in the
// first child, so the second is in a session it does not lead (it cannot acquire a terminal);
// with group = new_session in the second, which then leads its session as asked.
void detach(exec_request& p) noexcept {
    if (!p.detached) return;
    bool own_session = p.group == 2;
    if (!own_session && ::setsid() < 0) fail(p, exec_request::step::detach);
    long pid = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (pid < 0) fail(p, exec_request::step::detach);
    if (pid > 0) ::_exit(0);
    if (own_session && ::setsid() < 0) fail(p, exec_request::step::group);
    failure_record rec{0, 0, 0, static_cast<int>(::getpid())};
    while (::write(p.report_fd, &rec, sizeof rec) < 0 && errno == EINTR) {
    }
}

int child_main(void* arg) noexcept {
    auto& p = *static_cast<exec_request*>(arg);
    p.child_shared_memory = true;  // reaches the parent only through CLONE_VM
    reset_signals();
    arm_parent_death(p);
    place_process(p);
    detach(p);
    if (p.cwd_fd >= 0 && ::fchdir(p.cwd_fd) != 0) fail(p, exec_request::step::chdir);
    int saved = -1;
    for (std::size_t i = 0; i < p.dup_count; ++i)
        if (!place(p.dups[i], saved)) fail(p, exec_request::step::dup, i);
    if (!close_others(p)) fail(p, exec_request::step::close);
    write_own_pid(p);
    set_kernel_mask(0, nullptr);  // the child starts with nothing blocked
    ::execve(p.program, p.argv, p.envp);
    fail(p, exec_request::step::exec);
}

bool is_target(const exec_request& req, int fd) noexcept {
    for (std::size_t i = 0; i < req.dup_count; ++i)
        if (req.dups[i].to == fd) return true;
    return false;
}

// The report pipe. Its write end must survive the child's moves and closes: where it is, unless
// a move targets that number (the closes skip it); then at close_from or above. Staying put
// costs no number above the targets where RLIMIT_NOFILE is tight. Both ends close-on-exec:
// exec closes the child's write end.
bool open_report_pipe(exec_request& req, int& read_end) noexcept {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    int w = fds[1];
    if (is_target(req, w)) {
        w = ::fcntl(fds[1], F_DUPFD_CLOEXEC, req.close_from);
        ::close(fds[1]);
    }
    if (w < 0) {
        ::close(fds[0]);
        return false;
    }
    read_end = fds[0];
    req.report_fd = w;
    return true;
}

void close_report_pipe(const exec_request& req, int read_end) noexcept {
    if (read_end < 0) return;
    ::close(read_end);
    ::close(req.report_fd);
}

// After the clone: 0 bytes = the child exec'd; a whole record = it failed and is reaped here.
ssize_t read_record(int fd, failure_record& rec) noexcept {
    rec = {};
    ssize_t n;
    while ((n = ::read(fd, &rec, sizeof rec)) < 0 && errno == EINTR) {
    }
    return n;
}

void reap(pid_t pid) noexcept {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

// The pipe's end-of-file comes only when exec's close-on-exec pass reaches the child's write end,
// after every close-on-exec descriptor below it (a busy server's 5,000): where the child shared
// our memory, its outcome is already in the request, and we return without waiting for that pass.
void collect_report(exec_request& req, pid_t pid, int read_end) noexcept {
    if (req.child_shared_memory) clone_shares_memory.store(true, std::memory_order_relaxed);
    // No pipe means clone shares our memory (clone_shares_memory): the outcome is in the req.
    if (read_end < 0 || (req.child_shared_memory && !req.detached)) {
        close_report_pipe(req, read_end);
        if (req.err != 0) reap(pid);  // it failed and _exit'ed: no zombie
        return;
    }
    ::close(req.report_fd);
    failure_record rec{};
    ssize_t n = read_record(read_end, rec);
    if (req.detached && n == static_cast<ssize_t>(sizeof rec) && rec.err == 0) {
        req.detached_pid = rec.pid;  // the detached child's id; its exec report follows
        n = read_record(read_end, rec);
    }
    ::close(read_end);
    if (n == static_cast<ssize_t>(sizeof rec)) {
        req.err = rec.err != 0 ? rec.err : EIO;
        req.failed_step = static_cast<exec_request::step>(rec.step);
        req.failed_dup = static_cast<std::size_t>(rec.dup_index);
    } else if (n != 0) {
        req.err = EIO;  // a torn record: cannot happen for a pipe write of this size
        req.failed_step = exec_request::step::exec;
    }
    if (req.err == 0 && req.detached && req.detached_pid <= 0) {
        req.err = EIO;  // the intermediate child ended without a report: cannot happen
        req.failed_step = exec_request::step::detach;
    }
    if (req.err != 0 || req.detached) reap(pid);  // the failed (or the intermediate) child: no zombie
}


// The parent's own setup failed before any child existed: say which step.
pid_t setup_failed(exec_request& req, exec_request::step s) noexcept {
    req.err = errno;
    req.failed_step = s;
    return -1;
}

}  // namespace

bool use_fork_by_default() noexcept {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

pid_t clone_and_exec(exec_request& req) noexcept {
    req.err = 0;
    req.failed_step = exec_request::step::none;
    req.detached_pid = -1;
    req.child_shared_memory = false;
    req.report_fd = -1;
    int read_end = -1;
    bool need_pipe = req.use_fork || req.detached || !clone_shares_memory.load(std::memory_order_relaxed);
    if (need_pipe && !open_report_pipe(req, read_end)) return setup_failed(req, exec_request::step::report_pipe);
    char* stack_top = req.use_fork ? nullptr : spawn_stack.top();
    if (!req.use_fork && stack_top == nullptr) {
        int e = errno;
        close_report_pipe(req, read_end);
        errno = e;
        return setup_failed(req, exec_request::step::stack);
    }
    int old_cancel = 0;
    ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old_cancel);
    std::uint64_t old_mask = 0;
    set_kernel_mask(~std::uint64_t{0}, &old_mask);
    pid_t pid = -1;
    if (req.use_fork) {
        pid = ::fork();
        if (pid == 0) child_main(&req);  // never returns: execve or _exit
    } else {
        pid = ::clone(child_main, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &req);
    }
    int clone_errno = errno;
    set_kernel_mask(old_mask, nullptr);
    ::pthread_setcancelstate(old_cancel, nullptr);
    if (pid > 0) {
        collect_report(req, pid, read_end);
    } else {
        close_report_pipe(req, read_end);
    }
    errno = clone_errno;
    if (pid < 0) return setup_failed(req, exec_request::step::clone);
    return pid;
}

}  // namespace tether::detail
