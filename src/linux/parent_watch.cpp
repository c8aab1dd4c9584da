// Linux backend: kill_on_parent_exit for the whole tree. PR_SET_PDEATHSIG reaches the child
// only; its descendants (a double fork, setsid, a group of their own) would outlive us. So each
// such child gets a cgroup (tree.cpp), and a watcher process ends those cgroups when we end.
//
// The watcher is forked once per process, on the first spawn that needs it, and forks again so
// that it is not our child (no zombie of ours, nothing for a waitpid(-1) of the application).
// It holds a pidfd of this process (opened here, so it names exactly us), which becomes
// readable when the process ends in any way: exit, a signal, SIGKILL; not an execve. Each
// child's cgroup directory reaches it over a socket (SCM_RIGHTS) BEFORE the child starts, so
// no process of the tree can be outside the watch. When we end it drains the socket, writes
// "1" to each cgroup.kill (every process in the cgroup and below it, Linux 5.14), waits for the
// cgroups to empty (bounded), removes them and exits.
//
// After the fork it runs system calls only: the parent may have had other threads holding
// locks (malloc's among them), so nothing that could take one is called there.
#include "linux/parent_watch.hpp"

#include "linux/tree.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

namespace tether::detail {
namespace {

// One message from us: add (with the cgroup's directory as SCM_RIGHTS) or forget.
struct watch_message {
    std::uint64_t id;
    char op;  // 'a' or 'f'
    char name[119];  // the cgroup's name under our own cgroup directory, NUL-terminated
};

struct watched {
    std::uint64_t id;
    int dir;
    char name[sizeof(watch_message::name)];
};

// The most cgroups one watcher holds at once; the table is reserved, not committed.
constexpr std::size_t max_watched = 65536;

// In the watcher, the descriptors are fixed: 0 our socket, 1 the pidfd of the watched
// process, 2 its cgroup directory.
constexpr int sock_fd = 0, parent_fd = 1, base_fd = 2;

// ---- the watcher (system calls only)

// One message in; false at end-of-file (or nothing to read).
bool take_message(watched* table, std::size_t& count) {
    watch_message m{};
    iovec iov{&m, sizeof m};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock_fd, &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) return false;
    int dir = -1;
    if (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr && c->cmsg_type == SCM_RIGHTS)
        std::memcpy(&dir, CMSG_DATA(c), sizeof dir);
    if (m.op == 'a' && dir >= 0 && count < max_watched) {
        watched& w = table[count++];
        w.id = m.id;
        w.dir = dir;
        std::memcpy(w.name, m.name, sizeof w.name);
        w.name[sizeof w.name - 1] = '\0';
        return true;
    }
    if (dir >= 0) ::close(dir);
    for (std::size_t i = 0; i < count; ++i)
        if (m.op == 'f' && table[i].id == m.id) {
            ::close(table[i].dir);
            table[i] = table[--count];
            break;
        }
    return true;
}

// Everything queued, registrations sent just before we ended included. False at end-of-file.
bool drain(watched* table, std::size_t& count) {
    for (;;) {
        pollfd p{sock_fd, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0 || (p.revents & POLLIN) == 0) return (p.revents & POLLHUP) == 0;
        if (!take_message(table, count)) return false;
    }
}

long now_ms() {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

// Waits (until `end`) for "populated 0" in the cgroup's events, then removes the cgroup.
void remove_when_empty(const watched& w, long end) {
    int ev = ::openat(w.dir, "cgroup.events", O_RDONLY | O_CLOEXEC);
    char buf[256];
    for (; ev >= 0;) {
        ssize_t n = ::pread(ev, buf, sizeof buf - 1, 0);
        if (n <= 0) break;
        buf[n] = '\0';
        long left = end - now_ms();
        if (std::strstr(buf, "populated 0") != nullptr || left <= 0) break;
        pollfd p{ev, POLLPRI, 0};
        ::poll(&p, 1, static_cast<int>(left));
    }
    if (ev >= 0) ::close(ev);
    ::unlinkat(base_fd, w.name, AT_REMOVEDIR);
}

[[noreturn]] void end_all(watched* table, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        int k = ::openat(table[i].dir, "cgroup.kill", O_WRONLY | O_CLOEXEC);
        if (k >= 0) {
            (void)!::write(k, "1", 1);
            ::close(k);
        }
    }
    long end = now_ms() + 5000;
    for (std::size_t i = 0; i < count; ++i) remove_when_empty(table[i], end);
    ::_exit(0);
}

// Nothing of the parent's but our three descriptors, no terminal, no signals: only the end of
// the watched process ends the watcher.
void settle(int sock, int parent, int base) {
    int moved[3] = {::fcntl(sock, F_DUPFD_CLOEXEC, 10), ::fcntl(parent, F_DUPFD_CLOEXEC, 10),
                    ::fcntl(base, F_DUPFD_CLOEXEC, 10)};
    for (int i = 0; i < 3; ++i) ::dup2(moved[i], i);
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        rlimit r{};
        ::getrlimit(RLIMIT_NOFILE, &r);
        for (rlim_t fd = 3; fd < r.rlim_cur && fd < 65536; ++fd) ::close(static_cast<int>(fd));
    }
    ::setsid();
    (void)!::chdir("/");
    ::prctl(PR_SET_NAME, "tether-watch", 0, 0, 0);
    sigset_t all;
    ::sigfillset(&all);
    ::sigprocmask(SIG_BLOCK, &all, nullptr);
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
        files.rlim_cur = files.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &files);  // one descriptor per watched cgroup
    }
}

[[noreturn]] void watch(int sock, int parent, int base) {
    settle(sock, parent, base);
    void* mem = ::mmap(nullptr, max_watched * sizeof(watched), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) ::_exit(1);
    auto* table = static_cast<watched*>(mem);
    std::size_t count = 0;
    bool open = true;
    for (;;) {
        pollfd p[2] = {{open ? sock_fd : -1, POLLIN, 0}, {parent_fd, POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) continue;
        if (open && (p[0].revents & (POLLIN | POLLHUP)) != 0) open = drain(table, count);
        if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            if (open) drain(table, count);
            end_all(table, count);
        }
    }
}

// ---- this process's side

std::mutex watch_mutex;
int watch_sock = -1;
pid_t watch_owner = 0;  // the process watch_sock was made for (a fork of ours needs its own)
std::uint64_t next_id = 0;
std::string unavailable;

bool start_watcher() {
    std::string base_path = cgroup_base_path();
    if (base_path.empty()) return unavailable = "no cgroup of our own to create children under", false;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return unavailable = std::string("socketpair: ") + std::strerror(errno), false;
    // Each step's reason is taken at once, before a later call can overwrite errno.
    int self = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
    std::string why = self < 0 ? std::string("pidfd_open: ") + std::strerror(errno) : std::string();
    int base = why.empty() ? ::open(base_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (why.empty() && base < 0) why = "open " + base_path + ": " + std::strerror(errno);
    pid_t mid = why.empty() ? ::fork() : -1;
    if (mid == 0) {
        pid_t w = ::fork();  // the watcher: re-parented when `mid` exits, so not our child
        if (w == 0) watch(sv[1], self, base);
        ::_exit(w > 0 ? 0 : 1);
    }
    if (why.empty() && mid < 0) why = std::string("fork: ") + std::strerror(errno);
    int status = -1;
    while (mid > 0 && ::waitpid(mid, &status, 0) < 0 && errno == EINTR) {
    }
    if (why.empty() && status != 0) why = "fork: the watcher's second fork failed";
    for (int fd : {sv[1], self, base})
        if (fd >= 0) ::close(fd);
    if (!why.empty()) {
        ::close(sv[0]);
        unavailable = why;
        return false;
    }
    watch_sock = sv[0];
    watch_owner = ::getpid();
    unavailable.clear();
    return true;
}

bool send_message(const watch_message& m, int dir) {
    iovec iov{const_cast<watch_message*>(&m), sizeof m};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    if (dir >= 0) {
        h.msg_control = control;
        h.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &dir, sizeof dir);
    }
    return ::sendmsg(watch_sock, &h, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof m);
}

}  // namespace

std::uint64_t kill_on_exit(int dir, const std::string& name) noexcept {
    if (name.size() >= sizeof(watch_message::name)) return 0;
    std::lock_guard lock(watch_mutex);
    if (watch_sock >= 0 && watch_owner != ::getpid()) {  // a fork of the process that made it
        ::close(watch_sock);
        watch_sock = -1;
    }
    if (watch_sock < 0 && !start_watcher()) return 0;
    watch_message m{};
    m.id = ++next_id;
    m.op = 'a';
    std::memcpy(m.name, name.c_str(), name.size() + 1);
    if (send_message(m, dir)) return m.id;
    unavailable = std::string("the watcher is gone: ") + std::strerror(errno);
    ::close(watch_sock);
    watch_sock = -1;
    return 0;
}

void forget_on_exit(std::uint64_t id) noexcept {
    std::lock_guard lock(watch_mutex);
    if (id == 0 || watch_sock < 0 || watch_owner != ::getpid()) return;
    watch_message m{};
    m.id = id;
    m.op = 'f';
    (void)send_message(m, -1);
}

std::string parent_watch_unavailable_reason() {
    std::lock_guard lock(watch_mutex);
    return unavailable;
}

}  // namespace tether::detail
