// POSIX backend: the child object. A pidfd (pidfd_open, Linux 5.3) pins the process, so
// waits and signals never reach a recycled PID; without one (ENOSYS) we fall back to the pid.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/deadline.hpp"
#include "linux/process.hpp"
#include "linux/tree.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
// Older kernel headers: the numbers are the same on every architecture (unified table).
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace tether {

struct child_access {
    static child make(pid_t pid, unique_handle pidfd, bool kill_on_destroy, unique_handle in,
                      unique_handle out, unique_handle err, std::shared_ptr<detail::process_tree> tree) {
        child c;
        c.tree_ = std::move(tree);
        c.pid_ = pid;
        c.process_ = std::move(pidfd);
        c.kill_on_destroy_ = kill_on_destroy;
        c.stdin_ = std::move(in);
        c.stdout_ = std::move(out);
        c.stderr_ = std::move(err);
        return c;
    }
    static child make_detached(pid_t pid) {
        child c;
        c.pid_ = pid;
        c.detached_ = true;
        return c;
    }
};

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal(int fd, int sig) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0)); }

exit_status from_siginfo(const siginfo_t& si) {
    exit_status s;
    if (si.si_code == CLD_EXITED) {
        s.how = exit_status::kind::exited;
        s.code = si.si_status;
    } else {
        s.how = exit_status::kind::signalled;
        s.code = si.si_status;
        s.core_dumped = si.si_code == CLD_DUMPED;
    }
    return s;
}

// One waitid call: P_PIDFD when we hold a pidfd, else P_PID. nullopt = still running (or an
// error in `ec`). The pid is safe to use while the child is unreaped: the kernel does not
// recycle the pid of a zombie, so P_PID cannot reach another process unless someone else
// (a waitpid(-1) elsewhere, SIGCHLD set to SIG_IGN) reaped our child behind our back.
std::optional<exit_status> wait_once(pid_t pid, const unique_handle& pidfd, bool block,
                                     std::error_code& ec) noexcept {
    siginfo_t si{};
    int flags = WEXITED | (block ? 0 : WNOHANG);
    for (;;) {
        int rc = pidfd ? ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd.get()), &si, flags)
                       : ::waitid(P_PID, static_cast<id_t>(pid), &si, flags);
        if (rc == 0) break;
        if (errno == EINTR) continue;
        if (errno == EINVAL && pidfd) {
            // Linux 5.3 has pidfd_open but not waitid(P_PIDFD) (5.4): the pid is still safe
            // while the child is unreaped (see above), so wait by pid.
            return wait_once(pid, unique_handle(), block, ec);
        }
        ec = last_os_error();
        return std::nullopt;
    }
    ec.clear();
    if (si.si_pid == 0) return std::nullopt;  // WNOHANG and still running
    return from_siginfo(si);
}

std::optional<exit_status> wait_once(pid_t pid, const unique_handle& pidfd, bool block) {
    std::error_code ec;
    auto st = wait_once(pid, pidfd, block, ec);
    if (ec) throw_error(ec, "wait for child " + std::to_string(pid));
    return st;
}

// Children whose child object was destroyed while they ran: reaped without blocking later.
struct detached_entry {
    pid_t pid;
    unique_handle pidfd;
};
std::mutex detached_mutex;
std::vector<detached_entry> detached;
std::atomic<std::size_t> detached_count{0};

void add_detached(pid_t pid, unique_handle pidfd) {
    std::lock_guard lock(detached_mutex);
    detached.push_back({pid, std::move(pidfd)});
    detached_count.store(detached.size(), std::memory_order_relaxed);
}

}  // namespace

std::size_t reap_detached() {
    detail::remove_pending_cgroups();
    if (detached_count.load(std::memory_order_relaxed) == 0) return 0;  // the common case: no lock
    std::lock_guard lock(detached_mutex);
    std::erase_if(detached, [](detached_entry& e) {
        std::error_code ec;
        auto st = wait_once(e.pid, e.pidfd, false, ec);
        if (ec && e.pidfd && ec.value() != ECHILD) {
            // The pidfd is unusable (e.g. EBADF: closed by code that did not own it); the pid is
            // still ours while unreaped, so do not lose the child: wait by pid from now on.
            e.pidfd.reset();
            st = wait_once(e.pid, e.pidfd, false, ec);
        }
        return st.has_value() || (ec && ec.value() == ECHILD);  // ECHILD: reaped elsewhere
    });
    detached_count.store(detached.size(), std::memory_order_relaxed);
    return detached.size();
}

namespace detail {
child make_child(pid_t pid, bool kill_on_destroy, unique_handle in, unique_handle out, unique_handle err,
                 std::shared_ptr<process_tree> tree) {
    // pidfd_open cannot race with PID reuse here: the child is ours and not yet reaped.
    int fd = pidfd_open(pid);  // the kernel makes it close-on-exec
    return child_access::make(pid, unique_handle(fd >= 0 ? fd : -1), kill_on_destroy, std::move(in),
                              std::move(out), std::move(err), std::move(tree));
}
child make_detached_child(pid_t pid) { return child_access::make_detached(pid); }
}  // namespace detail

// Never throws and never leaves a zombie without a way to reap it: a child whose state cannot
// be settled here goes to the detached list (which falls back to the pid if the pidfd fails).
child::~child() {
    if (pid_ < 0 || status_ || detached_) return;
    auto pid = static_cast<pid_t>(pid_);
    std::error_code ec;
    if (kill_on_destroy_) {
        // SIGKILL cannot be caught or ignored, so the blocking wait below is short.
        (void)(process_ ? pidfd_send_signal(process_.get(), SIGKILL) : ::kill(pid, SIGKILL));
        if (wait_once(pid, process_, true, ec) || (ec && ec.value() == ECHILD)) return;
    } else if (wait_once(pid, process_, false, ec) || (ec && ec.value() == ECHILD)) {
        return;  // already ended: reaped now (or, ECHILD, reaped elsewhere)
    }
    detach();
}

child::operator bool() const noexcept { return pid_ >= 0; }

void child::detach() noexcept {
    if (pid_ < 0) return;
    if (!status_ && !detached_) add_detached(static_cast<pid_t>(pid_), std::move(process_));
    pid_ = -1;
    process_.reset();
}

// A detached child is not ours (it was re-parented): nothing to wait for or signal.
static void refuse_detached(bool is_detached, std::int64_t pid, const char* what) {
    if (is_detached)
        throw_error(errc::not_supported, std::string(what) + " on detached child " + std::to_string(pid) +
                                             " (spawn_options::detached): it is not our child");
}

exit_status child::wait() {
    if (status_) return *status_;
    if (pid_ < 0) throw_error(errc::invalid_argument, "wait on an empty child");
    refuse_detached(detached_, pid_, "wait");
    status_ = wait_once(static_cast<pid_t>(pid_), process_, true);
    process_.reset();
    return *status_;
}

std::optional<exit_status> child::try_wait() {
    if (status_ || pid_ < 0) return status_;
    refuse_detached(detached_, pid_, "try_wait");
    status_ = wait_once(static_cast<pid_t>(pid_), process_, false);
    if (status_) process_.reset();
    return status_;
}

std::optional<exit_status> child::wait_for(milliseconds timeout) {
    if (status_ || pid_ < 0) return status_;
    refuse_detached(detached_, pid_, "wait_for");
    auto deadline = detail::deadline::after(timeout);  // saturating: max() means no limit
    if (!process_) {
        // No pidfd (kernel < 5.3): poll with a growing pause, as Python's Popen.wait(timeout).
        auto pause = std::chrono::microseconds(500);
        while (!try_wait() && !deadline.expired()) {
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::microseconds(50000));
        }
        return status_;
    }
    for (;;) {
        pollfd p{process_.get(), POLLIN, 0};
        int n = ::poll(&p, 1, deadline.poll_timeout());
        if (n > 0) return try_wait();
        if (n == 0) return std::nullopt;
        if (errno != EINTR) throw_error(last_os_error(), "poll pidfd of child " + std::to_string(pid_));
    }
}

void child::signal(int sig) {
    if (status_ || pid_ < 0) return;  // reaped: the pid may belong to someone else now
    refuse_detached(detached_, pid_, "signal");
    int rc = process_ ? pidfd_send_signal(process_.get(), sig) : ::kill(static_cast<pid_t>(pid_), sig);
    if (rc != 0 && errno != ESRCH)
        throw_error(last_os_error(), "signal " + std::to_string(sig) + " to child " + std::to_string(pid_));
}

void child::kill() { signal(SIGKILL); }
void child::terminate() { signal(SIGTERM); }

// The tree is signalled while the child is unreaped (its pid, the group id, cannot be reused);
// after the reap only its cgroup is (tree.hpp).
static void signal_whole_tree(child& c, const std::shared_ptr<detail::process_tree>& tree, bool reaped, int sig) {
    if (!tree) return c.signal(sig);
    if (int err = detail::signal_tree(*tree, static_cast<pid_t>(c.pid()), reaped, sig))
        throw_error(std::error_code(err, std::system_category()),
                    "signal " + std::to_string(sig) + " to the tree of child " + std::to_string(c.pid()));
}

namespace detail::asio_glue {
// For include/tether/asio.hpp: a pidfd of its own, so Asio may set O_NONBLOCK on it (on a
// pidfd that flag makes waitid non-blocking) without touching the child object's.
unique_handle open_process_handle(const child& c, std::error_code& ec) noexcept {
    int fd = c.pid() > 0 ? pidfd_open(static_cast<pid_t>(c.pid())) : -1;
    if (fd < 0) {
        ec = c.pid() > 0 ? last_os_error() : make_error_code(errc::closed);
        return {};
    }
    ec.clear();
    return unique_handle(fd);
}
}  // namespace detail::asio_glue

void child::kill_tree() {
    if (pid_ < 0) return;
    refuse_detached(detached_, pid_, "kill_tree");
    signal_whole_tree(*this, tree_, status_.has_value(), SIGKILL);
}
void child::terminate_tree() {
    if (pid_ < 0) return;
    refuse_detached(detached_, pid_, "terminate_tree");
    signal_whole_tree(*this, tree_, status_.has_value(), SIGTERM);
}

}  // namespace tether
