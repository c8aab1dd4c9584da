// peer_floor — not a peer: the cheapest code that still gives tether's guarantee, in bare system
// calls and without checks, for the three rows whose targets sit near what the kernel allows.
// The driver runs it beside the others, so its ratio to raw is the bound on this
// machine at this moment; every other workload is skipped.
//   spawn_fds: the child gets none of the 5,000 descriptors (raw's gets the 2,500 without
//              O_CLOEXEC): clone(CLONE_VM|CLONE_VFORK) + close_range(CLOSE_RANGE_CLOEXEC) +
//              execve, nothing else.
//   stream:    a real pipe as large as tether's (512 KiB), drained by a reader that copies
//              nothing (splice into /dev/null): what is left is the writer's half.
//   forward:   no forwarder at all: the writer's 1 MiB pipe is drain's stdin.
//
// usage: peer_floor WORKLOAD ITERATIONS CHILD
#include "peer_common.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

std::string g_workload;

void wait_ok(pid_t pid) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    PEER_REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0, g_workload, "child status %d", st);
}

// ---- spawn_fds
char* true_argv[] = {const_cast<char*>("/bin/true"), nullptr};

int floor_child(void*) {
    ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execve(true_argv[0], true_argv, environ);
    ::_exit(127);
}

void spawn_fds(const peer::args& a) {
    peer::extra_descriptors extra;
    constexpr std::size_t stack_size = 64 * 1024;
    void* stack = ::mmap(nullptr, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    PEER_REQUIRE(stack != MAP_FAILED, g_workload, "mmap: %s", std::strerror(errno));
    peer::run(a, [&] {
        return peer::timed([&] {
            pid_t pid = ::clone(floor_child, static_cast<char*>(stack) + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD,
                                nullptr);
            PEER_REQUIRE(pid > 0, g_workload, "clone: %s", std::strerror(errno));
            wait_ok(pid);
        });
    });
}

// ---- stream and forward: children through posix_spawn (not measured against anything else).
pid_t spawn_child(std::vector<std::string> argv, int in, int out) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in >= 0) posix_spawn_file_actions_adddup2(&fa, in, 0);
    if (out >= 0) posix_spawn_file_actions_adddup2(&fa, out, 1);
    std::vector<char*> av;
    for (auto& s : argv) av.push_back(s.data());
    av.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    PEER_REQUIRE(rc == 0, g_workload, "posix_spawn %s: %s", av[0], std::strerror(rc));
    return pid;
}

void make_pipe(int fds[2], int capacity) {
    PEER_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0, g_workload, "pipe2: %s", std::strerror(errno));
    PEER_REQUIRE(::fcntl(fds[0], F_SETPIPE_SZ, capacity) >= capacity, g_workload, "F_SETPIPE_SZ %d", capacity);
}

std::vector<std::string> stream_argv(const peer::args& a) {
    return {a.child, "stream", std::to_string(peer::stream_bytes), std::to_string(peer::stream_chunk)};
}

std::uint64_t splice_to_null(int fd) {
    static int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    std::uint64_t total = 0;
    for (;;) {
        ssize_t n = ::splice(fd, nullptr, null, nullptr, std::size_t{1} << 20, 0);
        if (n < 0 && errno == EINTR) continue;
        PEER_REQUIRE(n >= 0, g_workload, "splice: %s", std::strerror(errno));
        if (n == 0) return total;
        total += static_cast<std::uint64_t>(n);
    }
}

double stream_once(const peer::args& a) {
    return peer::timed([&] {
        int p[2];
        make_pipe(p, 512 << 10);  // as peer_tether's stream
        pid_t pid = spawn_child(stream_argv(a), -1, p[1]);
        ::close(p[1]);
        std::uint64_t got = splice_to_null(p[0]);
        ::close(p[0]);
        PEER_REQUIRE(got == peer::stream_bytes, g_workload, "read %llu bytes", static_cast<unsigned long long>(got));
        wait_ok(pid);
    });
}

double forward_once(const peer::args& a) {
    return peer::timed([&] {
        int p[2];
        make_pipe(p, 1 << 20);  // as peer_tether's source pipe
        pid_t src = spawn_child(stream_argv(a), -1, p[1]);
        pid_t dst = spawn_child({a.child, "drain"}, p[0], -1);
        ::close(p[0]);
        ::close(p[1]);
        wait_ok(src);
        wait_ok(dst);
    });
}

}  // namespace

int main(int argc, char** argv) {
    auto a = peer::parse(argc, argv);
    g_workload = a.workload;
    const std::string& w = a.workload;
    if (w == "spawn_fds") {
        spawn_fds(a);
    } else if (w == "stream") {
        peer::run(a, [&] { return stream_once(a); });
    } else if (w == "forward") {
        peer::run(a, [&] { return forward_once(a); });
    } else if (w == "spawn" || w == "spawn_2g" || w == "roundtrip" || w == "kill_eof" || w == "threads" ||
               w == "messages" || w == "children") {
        peer::skip("no floor for this workload");
    } else {
        peer::unknown_workload(a);
    }
    return 0;
}
