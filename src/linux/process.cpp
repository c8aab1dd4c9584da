// Linux backend: a started process, for the portable child (detail/backend.hpp, section 3). A
// pidfd (pidfd_open, Linux 5.3) pins the process, so waits and signals never reach a recycled
// id; without one (ENOSYS) we fall back to the pid, which is safe while the child is unreaped:
// the kernel does not recycle the id of a zombie.
#include <tether/error.hpp>

#include "detail/backend.hpp"
#include "linux/process.hpp"
#include "linux/tree.hpp"
#include "testing/switches.hpp"

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

namespace tether::detail {
namespace {

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
// error in `ec`). P_PID cannot reach another process unless someone else (a waitpid(-1)
// elsewhere, SIGCHLD set to SIG_IGN) reaped our child behind our back.
std::optional<exit_status> wait_once(pid_t pid, const unique_handle& pidfd, bool block, std::error_code& ec) noexcept {
    siginfo_t si{};
    int flags = WEXITED | (block ? 0 : WNOHANG);
    for (;;) {
        int rc = pidfd ? ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd.get()), &si, flags)
                       : ::waitid(P_PID, static_cast<id_t>(pid), &si, flags);
        if (rc == 0) break;
        if (errno == EINTR) continue;
        if (errno == EINVAL && pidfd) {
            // Linux 5.3 has pidfd_open but not waitid(P_PIDFD) (5.4): wait by pid (see above).
            return wait_once(pid, unique_handle(), block, ec);
        }
        ec = last_os_error();
        return std::nullopt;
    }
    ec.clear();
    if (si.si_pid == 0) return std::nullopt;  // WNOHANG and still running
    return from_siginfo(si);
}

// Until `d` with no pidfd to poll (kernel < 5.3): look with a growing pause, as Python's
// Popen.wait(timeout) does.
std::optional<exit_status> wait_by_looking(pid_t pid, const deadline& d, std::error_code& ec) noexcept {
    auto pause = std::chrono::microseconds(500);
    for (;;) {
        auto st = wait_once(pid, unique_handle(), false, ec);
        if (st || ec || d.expired()) return st;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(50000));
    }
}

// Children whose child object was destroyed while they ran: reaped without blocking later.
struct abandoned_child {
    pid_t pid;
    unique_handle pidfd;
};
std::mutex abandoned_mutex;
std::vector<abandoned_child> abandoned;
std::atomic<std::size_t> abandoned_count{0};

}  // namespace

unique_handle open_pidfd(pid_t pid) noexcept {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));  // the kernel makes it close-on-exec
    return unique_handle(fd >= 0 ? fd : -1);
}

std::optional<exit_status> process_wait(std::int64_t id, unique_handle& process, const deadline& d,
                                        std::error_code& ec) noexcept {
    auto pid = static_cast<pid_t>(id);
    std::optional<exit_status> st;
    if (d.is_never()) {
        st = wait_once(pid, process, true, ec);
    } else if (!process) {
        st = wait_by_looking(pid, d, ec);
    } else {
        for (st = wait_once(pid, process, false, ec); !st && !ec && !d.expired();) {
            pollfd p{process.get(), POLLIN, 0};
            int n = ::poll(&p, 1, d.poll_timeout());
            if (n < 0 && errno != EINTR) ec = last_os_error();
            if (n > 0) st = wait_once(pid, process, false, ec);
        }
    }
    if (st) process.reset();  // reaped: its pidfd is of no more use
    return st;
}

std::error_code process_signal(std::int64_t pid, const unique_handle& process, int sig) noexcept {
    int rc = process ? pidfd_send_signal(process.get(), sig) : ::kill(static_cast<pid_t>(pid), sig);
    if (rc != 0 && errno != ESRCH) return last_os_error();
    return {};
}

std::error_code process_end(std::int64_t pid, const unique_handle& process, bool hard) noexcept {
    return process_signal(pid, process, hard ? SIGKILL : SIGTERM);
}

// The tree is signalled while the child is unreaped (its pid, the group id, cannot be reused);
// after the reap only its cgroup is (tree.hpp).
std::error_code tree_end(process_tree& tree, std::int64_t pid, bool reaped, bool hard) noexcept {
    if (int err = signal_tree(tree, static_cast<pid_t>(pid), reaped, hard ? SIGKILL : SIGTERM))
        return {err, std::system_category()};
    return {};
}

void process_abandon(std::int64_t pid, unique_handle process) noexcept {
    std::lock_guard lock(abandoned_mutex);
    abandoned.push_back({static_cast<pid_t>(pid), std::move(process)});
    abandoned_count.store(abandoned.size(), std::memory_order_relaxed);
}

std::size_t reap_abandoned() noexcept {
    remove_pending_cgroups();
    if (abandoned_count.load(std::memory_order_relaxed) == 0) return 0;  // the common case: no lock
    std::lock_guard lock(abandoned_mutex);
    std::erase_if(abandoned, [](abandoned_child& e) {
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
    abandoned_count.store(abandoned.size(), std::memory_order_relaxed);
    return abandoned.size();
}

// A new pidfd rather than a dup, so Asio may set O_NONBLOCK on it (on a pidfd that flag makes
// waitid non-blocking) without touching the child object's.
unique_handle process_open_handle(std::int64_t pid, borrowed_handle /*process*/, std::error_code& ec) noexcept {
    if (test_switches::exit_polling_forced()) {  // as on a kernel without pidfd_open
        ec = std::error_code(ENOSYS, std::system_category());
        return {};
    }
    auto fd = open_pidfd(static_cast<pid_t>(pid));
    if (fd) {
        ec.clear();
    } else {
        ec = last_os_error();
    }
    return fd;
}

}  // namespace tether::detail
