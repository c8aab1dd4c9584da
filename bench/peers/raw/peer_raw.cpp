// peer_raw — the baseline of the peer benchmarks (bench/peers/PROTOCOL.md): what a careful C
// programmer writes with the system calls alone. posix_spawn with file actions, pipe2(O_CLOEXEC),
// blocking read/write with a 64 KiB buffer, epoll over pidfds.
//
// One exception, on purpose: `threads` uses the textbook pipe() (no O_CLOEXEC) plus
// posix_spawn_file_actions_adddup2/addclose, because that is what most code does and what leaks
// into children another thread starts meanwhile (info variant_classic_pipe=1 says so).
//
// usage: peer_raw WORKLOAD ITERATIONS CHILD
#include "peer_common.hpp"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>

extern char** environ;  // NOLINT: POSIX names it so

namespace {

using peer::fail;

std::string g_workload;  // for messages; set once in main

// fail() with errno's text unless `ok`; errno is read here, after the call in the argument
// (reading it in the same argument list as the call would be unsequenced).
void sys_ok(bool ok, const char* what) {
    if (!ok) {
        fail(g_workload, "%s: %s", what, std::strerror(errno));
    }
}

// ---- Small owners, so every descriptor and file-action list is closed exactly once.
class fd {
public:
    fd() = default;
    explicit fd(int v) : v_(v) {}
    fd(fd&& o) noexcept : v_(std::exchange(o.v_, -1)) {}
    fd& operator=(fd&& o) noexcept {
        if (this != &o) {
            reset();
            v_ = std::exchange(o.v_, -1);
        }
        return *this;
    }
    fd(const fd&) = delete;
    fd& operator=(const fd&) = delete;
    ~fd() { reset(); }
    [[nodiscard]] int get() const { return v_; }
    void reset() {
        if (v_ >= 0) {
            ::close(v_);
            v_ = -1;
        }
    }

private:
    int v_{-1};
};

struct pipe_fds {
    fd r, w;
};

pipe_fds make_pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        fail(g_workload, "pipe2: %s", std::strerror(errno));
    }
    return {fd(p[0]), fd(p[1])};
}

class file_actions {
public:
    file_actions() { posix_spawn_file_actions_init(&fa_); }
    file_actions(const file_actions&) = delete;
    file_actions& operator=(const file_actions&) = delete;
    ~file_actions() { posix_spawn_file_actions_destroy(&fa_); }
    file_actions& dup2(int from, int to) {
        check(posix_spawn_file_actions_adddup2(&fa_, from, to), "adddup2");
        return *this;
    }
    file_actions& close(int which) {
        check(posix_spawn_file_actions_addclose(&fa_, which), "addclose");
        return *this;
    }
    [[nodiscard]] const posix_spawn_file_actions_t* get() const { return &fa_; }

private:
    static void check(int rc, const char* what) {
        if (rc != 0) {
            fail(g_workload, "posix_spawn_file_actions_%s: %s", what, std::strerror(rc));
        }
    }
    posix_spawn_file_actions_t fa_{};
};

pid_t spawn(std::vector<std::string> argv, const file_actions* fa = nullptr) {
    std::vector<char*> av;
    av.reserve(argv.size() + 1);
    for (auto& a : argv) {
        av.push_back(a.data());
    }
    av.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, av[0], fa != nullptr ? fa->get() : nullptr, nullptr, av.data(), environ);
    if (rc != 0) {
        fail(g_workload, "posix_spawn %s: %s", av[0], std::strerror(rc));
    }
    return pid;
}

int wait_status(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fail(g_workload, "waitpid %d: %s", static_cast<int>(pid), std::strerror(errno));
        }
    }
    return status;
}

void wait_ok(pid_t pid) {
    int status = wait_status(pid);
    PEER_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, g_workload, "child %d failed (status 0x%x)",
            static_cast<int>(pid), status);
}

std::size_t read_some(int from, void* buf, std::size_t n) {
    for (;;) {
        ssize_t r = ::read(from, buf, n);
        if (r >= 0) {
            return static_cast<std::size_t>(r);
        }
        if (errno != EINTR) {
            fail(g_workload, "read: %s", std::strerror(errno));
        }
    }
}

void write_all(int to, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(to, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail(g_workload, "write: %s", std::strerror(errno));
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

// Reads `from` to end-of-file with a 64 KiB buffer; returns the byte count.
std::uint64_t read_to_eof(int from) {
    static std::vector<char> buf(peer::read_size);
    std::uint64_t total = 0;
    while (std::size_t n = read_some(from, buf.data(), buf.size())) {
        total += n;
    }
    return total;
}

std::vector<std::string> stream_argv(const peer::args& a, std::uint64_t bytes, std::uint64_t chunk) {
    return {a.child, "stream", std::to_string(bytes), std::to_string(chunk)};
}

// ---- spawn, spawn_2g, spawn_fds
double spawn_true() {
    return peer::timed([] { wait_ok(spawn({"/bin/true"})); });
}

long long child_fds(const peer::args& a) {
    auto out = make_pipe();
    file_actions fa;
    fa.dup2(out.w.get(), 1);
    pid_t pid = spawn({a.child, "fds"}, &fa);
    out.w.reset();
    std::string text;
    char buf[256];
    while (std::size_t n = read_some(out.r.get(), buf, sizeof buf)) {
        text.append(buf, n);
    }
    wait_ok(pid);
    long long n = peer::parse_count(text);
    PEER_REQUIRE(n >= 0, g_workload, "peer_child fds printed '%s'", text.c_str());
    return n;
}

// ---- stream: the child's stdout to end-of-file through a 64 KiB read loop.
double stream_once(const peer::args& a) {
    return peer::timed([&] {
        auto out = make_pipe();
        file_actions fa;
        fa.dup2(out.w.get(), 1);
        pid_t pid = spawn(stream_argv(a, peer::stream_bytes, peer::stream_chunk), &fa);
        out.w.reset();
        std::uint64_t got = read_to_eof(out.r.get());
        PEER_REQUIRE(got == peer::stream_bytes, g_workload, "read %llu bytes, expected %llu",
                static_cast<unsigned long long>(got), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(pid);
    });
}

// ---- forward: stream's stdout copied by a read/write loop into `drain`'s stdin.
double forward_once(const peer::args& a) {
    return peer::timed([&] {
        auto from = make_pipe();
        auto to = make_pipe();
        file_actions fa_src;
        fa_src.dup2(from.w.get(), 1);
        pid_t src = spawn(stream_argv(a, peer::stream_bytes, peer::stream_chunk), &fa_src);
        file_actions fa_dst;
        fa_dst.dup2(to.r.get(), 0);
        pid_t dst = spawn({a.child, "drain"}, &fa_dst);
        from.w.reset();
        to.r.reset();
        static std::vector<char> buf(peer::read_size);
        std::uint64_t total = 0;
        while (std::size_t n = read_some(from.r.get(), buf.data(), buf.size())) {
            write_all(to.w.get(), buf.data(), n);
            total += n;
        }
        to.w.reset();
        PEER_REQUIRE(total == peer::stream_bytes, g_workload, "forwarded %llu bytes, expected %llu",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(src);
        wait_ok(dst);
    });
}

// ---- roundtrip: 1 byte to `echo` and back, one child for all iterations.
void roundtrip(const peer::args& a) {
    auto in = make_pipe();
    auto out = make_pipe();
    file_actions fa;
    fa.dup2(in.r.get(), 0).dup2(out.w.get(), 1);
    pid_t pid = spawn({a.child, "echo"}, &fa);
    in.r.reset();
    out.w.reset();
    peer::run(a, [&] {
        return peer::timed([&] {
            char c = 'x';
            write_all(in.w.get(), &c, 1);
            PEER_REQUIRE(read_some(out.r.get(), &c, 1) == 1 && c == 'x', g_workload, "echo did not answer");
        });
    });
    // The same loop with the SIGPIPE safety every tether write has (the signal blocked in this
    // thread for the write, the mask restored after: two rt_sigprocmask calls), as a fact: it
    // prices what raw's unguarded write does not pay (a gone reader would kill raw with SIGPIPE).
    std::vector<double> guarded;
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    for (int i = 0; i < a.iterations; ++i) {
        guarded.push_back(peer::timed([&] {
            char c = 'x';
            pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
            write_all(in.w.get(), &c, 1);
            pthread_sigmask(SIG_SETMASK, &old, nullptr);
            PEER_REQUIRE(read_some(out.r.get(), &c, 1) == 1 && c == 'x', g_workload, "echo did not answer");
        }));
    }
    peer::info("guarded_roundtrip_ns", static_cast<long long>(peer::median(guarded) * 1000));
    in.w.reset();
    PEER_REQUIRE(read_to_eof(out.r.get()) == 0, g_workload, "echo wrote more than it was sent");
    wait_ok(pid);
}

// ---- kill_eof: SIGKILL -> end-of-file on the child's stdout.
double kill_eof_once(const peer::args& a, long long& hangs) {
    auto out = make_pipe();
    file_actions fa;
    fa.dup2(out.w.get(), 1);
    pid_t pid = spawn({a.child, "sleep"}, &fa);
    out.w.reset();
    char c = 0;
    PEER_REQUIRE(read_some(out.r.get(), &c, 1) == 1 && c == 'r', g_workload, "no ready mark from sleep");
    auto t0 = peer::clock_type::now();
    sys_ok(::kill(pid, SIGKILL) == 0, "kill");
    pollfd p{out.r.get(), POLLIN, 0};
    int rc = 0;
    while ((rc = ::poll(&p, 1, static_cast<int>(peer::hang_after.count()))) < 0 && errno == EINTR) {
    }
    PEER_REQUIRE(rc >= 0, g_workload, "poll: %s", std::strerror(errno));
    if (rc == 0) {
        ++hangs;  // then wait for the end-of-file without limit: it must still come
    }
    PEER_REQUIRE(read_some(out.r.get(), &c, 1) == 0, g_workload, "data after the ready mark");
    double us = peer::micros(peer::clock_type::now() - t0);
    int status = wait_status(pid);
    PEER_REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, g_workload, "sleep was not killed (0x%x)",
            status);
    return us;
}

// ---- threads: A streams 1 byte per child through the classic pipe(); B starts lingerers.
class lingerers {
public:
    explicit lingerers(const peer::args& a) : child_(a.child), thread_([this] { loop(); }) {}
    lingerers(const lingerers&) = delete;
    lingerers& operator=(const lingerers&) = delete;
    ~lingerers() { stop(); }
    // Stops starting children, waits for those alive; returns how many were started.
    long long stop() {
        {
            std::lock_guard lk(m_);
            done_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
        return started_;
    }

private:
    void loop() {
        std::vector<pid_t> alive;
        std::unique_lock lk(m_);
        while (!done_) {
            lk.unlock();
            alive.push_back(spawn({child_, "linger", std::to_string(peer::linger_ms)}));
            ++started_;
            std::erase_if(alive, [](pid_t pid) {
                int status = 0;
                pid_t r = ::waitpid(pid, &status, WNOHANG);
                if (r == pid) {
                    PEER_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, g_workload, "linger failed");
                }
                return r == pid;
            });
            lk.lock();
            cv_.wait_for(lk, peer::threads_spawn_interval, [this] { return done_; });
        }
        lk.unlock();
        for (pid_t pid : alive) {
            wait_ok(pid);
        }
    }

    std::string child_;
    std::mutex m_;
    std::condition_variable cv_;
    bool done_{false};
    long long started_{0};
    std::thread thread_;  // last: starts once everything above is constructed
};

double classic_stream_one(const peer::args& a) {
    return peer::timed([&] {
        int p[2];
        sys_ok(::pipe(p) == 0, "pipe");  // the textbook call
        fd r(p[0]);
        fd w(p[1]);
        pid_t pid = -1;
        {
            file_actions fa;
            fa.dup2(w.get(), 1).close(r.get()).close(w.get());
            pid = spawn(stream_argv(a, 1, 1), &fa);
        }
        w.reset();
        PEER_REQUIRE(read_to_eof(r.get()) == 1, g_workload, "A did not read 1 byte");
        wait_ok(pid);
    });
}

void threads(const peer::args& a) {
    long long delayed = 0;
    long long started = 0;
    {
        lingerers b(a);
        peer::run(a, [&] {
            double us = classic_stream_one(a);
            if (us > std::chrono::duration<double, std::micro>(peer::delayed_after).count()) {
                ++delayed;
            }
            return us;
        });
        started = b.stop();
    }
    peer::info("delayed", delayed);
    peer::info("lingerers", started);
    peer::info("variant_classic_pipe", 1);
}

// ---- messages: 100,000 write()s of 64 bytes to `sink`, then its 1-byte acknowledgement.
void messages(const peer::args& a) {
    auto in = make_pipe();
    auto ack = make_pipe();
    file_actions fa;
    fa.dup2(in.r.get(), 0).dup2(ack.w.get(), 1);
    pid_t pid = spawn({a.child, "sink"}, &fa);
    in.r.reset();
    ack.w.reset();
    char msg[peer::message_size];
    std::memset(msg, 'm', sizeof msg);
    peer::run(a, [&] {
        return peer::timed([&] {
            for (std::size_t i = 0; i < peer::messages_per_iteration; ++i) {
                ssize_t w = ::write(in.w.get(), msg, sizeof msg);  // <= PIPE_BUF: all or nothing
                PEER_REQUIRE(w == static_cast<ssize_t>(sizeof msg), g_workload, "write: %s", std::strerror(errno));
            }
            char c = 0;
            PEER_REQUIRE(read_some(ack.r.get(), &c, 1) == 1 && c == 'a', g_workload, "no acknowledgement");
        });
    });
    in.w.reset();
    PEER_REQUIRE(read_to_eof(ack.r.get()) == 0, g_workload, "sink acknowledged too much");
    wait_ok(pid);
}

// ---- children: 1,000 `exit` children, their exits observed by epoll on pidfds.
double children_once(const peer::args& a, int ep) {
    return peer::timed([&] {
        std::vector<fd> pidfds(peer::children_per_iteration);
        std::vector<pid_t> pids(peer::children_per_iteration);
        for (int i = 0; i < peer::children_per_iteration; ++i) {
            pids[i] = spawn({a.child, "exit"});
            int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pids[i], 0));
            PEER_REQUIRE(pfd >= 0, g_workload, "pidfd_open: %s", std::strerror(errno));
            pidfds[i] = fd(pfd);
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u32 = static_cast<std::uint32_t>(i);
            sys_ok(::epoll_ctl(ep, EPOLL_CTL_ADD, pfd, &ev) == 0, "epoll_ctl");
        }
        int seen = 0;
        epoll_event evs[64];
        while (seen < peer::children_per_iteration) {
            int n = ::epoll_wait(ep, evs, 64, -1);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            PEER_REQUIRE(n > 0, g_workload, "epoll_wait: %s", std::strerror(errno));
            for (int k = 0; k < n; ++k) {
                auto i = evs[k].data.u32;
                siginfo_t si{};
                sys_ok(::waitid(P_PIDFD, static_cast<id_t>(pidfds[i].get()), &si, WEXITED) == 0, "waitid");
                PEER_REQUIRE(si.si_code == CLD_EXITED && si.si_status == 0, g_workload, "child %d failed",
                        static_cast<int>(pids[i]));
                // Removed before the close: a close alone does not leave the epoll set while another
                // process still holds the file (epoll(7), Q6) — and a child started a moment ago
                // does, until its exec has closed its copies of our close-on-exec descriptors.
                sys_ok(::epoll_ctl(ep, EPOLL_CTL_DEL, pidfds[i].get(), nullptr) == 0, "epoll_ctl DEL");
                pidfds[i].reset();
                ++seen;
            }
        }
    });
}

void children(const peer::args& a) {
    fd ep(::epoll_create1(EPOLL_CLOEXEC));
    PEER_REQUIRE(ep.get() >= 0, g_workload, "epoll_create1: %s", std::strerror(errno));
    peer::run(a, [&] { return children_once(a, ep.get()); }, peer::children_warmups);
}

}  // namespace

int main(int argc, char** argv) {
    auto a = peer::parse(argc, argv);
    g_workload = a.workload;
    const std::string& w = a.workload;
    if (w == "spawn") {
        peer::run(a, spawn_true);
    } else if (w == "spawn_2g") {
        peer::touched_memory memory;
        peer::run(a, spawn_true);
    } else if (w == "spawn_fds") {
        peer::extra_descriptors extra;
        peer::run(a, spawn_true);
        peer::info("child_fds", child_fds(a));
    } else if (w == "stream") {
        peer::run(a, [&] { return stream_once(a); });
    } else if (w == "forward") {
        peer::run(a, [&] { return forward_once(a); });
    } else if (w == "roundtrip") {
        roundtrip(a);
    } else if (w == "kill_eof") {
        long long hangs = 0;
        peer::run(a, [&] { return kill_eof_once(a, hangs); });
        peer::info("hangs", hangs);
    } else if (w == "threads") {
        threads(a);
    } else if (w == "messages") {
        messages(a);
    } else if (w == "children") {
        children(a);
    } else {
        peer::unknown_workload(a);
    }
    return 0;
}
