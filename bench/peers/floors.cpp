// bench/peers/floors.cpp — the least the kernel allows, measured beside raw and tether in one
// run, for the three rows whose targets sit near it (issue 12): spawn with 5,000 descriptors,
// streaming a child's stdout, forwarding it into another child.
//
// A "floor" is the cheapest code that still gives tether's guarantee, written with bare system
// calls and no checks:
//   - spawn_fds: the child gets none of the 5,000 (raw's gets the 2,500 without O_CLOEXEC).
//     Floor: clone(CLONE_VM|CLONE_VFORK) + close_range(CLOSE_RANGE_CLOEXEC) + execve, nothing else.
//     Also shown: glibc's own way, posix_spawn + posix_spawn_file_actions_addclosefrom_np.
//   - stream: a real pipe (not a socketpair). Floor: a reader that copies nothing, splice(2) into
//     /dev/null from a pipe as large as tether's; what is left is the writer's half.
//   - forward: floor: no forwarder at all, the writer's pipe is drain's stdin.
// Variants take turns round by round (the host's speed drifts over seconds); medians of all
// rounds. stream and forward run on CPU 0, as the driver pins them.
//
// usage: floors spawn_fds|stream|forward ROUNDS CHILD     (CHILD: peer_child's absolute path)
#include "peer_common.hpp"

#include <tether/tether.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

std::string g_child;

void wait_ok(pid_t pid, const char* what) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    PEER_REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "floors", "%s: child status %d", what, st);
}

// posix_spawn with an optional stdin/stdout; `closefrom`: glibc's addclosefrom_np(3).
pid_t spawn_posix(std::vector<std::string> argv, int in, int out, bool closefrom = false) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in >= 0) posix_spawn_file_actions_adddup2(&fa, in, 0);
    if (out >= 0) posix_spawn_file_actions_adddup2(&fa, out, 1);
    if (closefrom) posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    std::vector<char*> av;
    for (auto& s : argv) av.push_back(s.data());
    av.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    PEER_REQUIRE(rc == 0, "floors", "posix_spawn %s: %s", av[0], std::strerror(rc));
    return pid;
}

std::vector<std::string> stream_argv() {
    return {g_child, "stream", std::to_string(peer::stream_bytes), std::to_string(peer::stream_chunk)};
}

void make_pipe(int fds[2], int capacity = 0) {
    PEER_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0, "floors", "pipe2: %s", std::strerror(errno));
    if (capacity > 0) PEER_REQUIRE(::fcntl(fds[0], F_SETPIPE_SZ, capacity) >= capacity, "floors", "F_SETPIPE_SZ");
}

// ---- spawn_fds
char* true_argv[] = {const_cast<char*>("/bin/true"), nullptr};

int floor_child(void*) {
    ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execve("/bin/true", true_argv, environ);
    ::_exit(127);
}

void floor_spawn(void* stack, std::size_t size) {
    pid_t pid = ::clone(floor_child, static_cast<char*>(stack) + size, CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
    PEER_REQUIRE(pid > 0, "floors", "clone: %s", std::strerror(errno));
    wait_ok(pid, "floor");
}

// ---- stream
std::uint64_t read_loop(int fd) {
    static std::vector<char> buf(peer::read_size);
    std::uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        PEER_REQUIRE(n >= 0, "floors", "read: %s", std::strerror(errno));
        if (n == 0) return total;
        total += static_cast<std::uint64_t>(n);
    }
}

std::uint64_t splice_to_null(int fd) {
    static int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    std::uint64_t total = 0;
    for (;;) {
        ssize_t n = ::splice(fd, nullptr, null, nullptr, std::size_t{1} << 20, 0);
        if (n < 0 && errno == EINTR) continue;
        PEER_REQUIRE(n >= 0, "floors", "splice: %s", std::strerror(errno));
        if (n == 0) return total;
        total += static_cast<std::uint64_t>(n);
    }
}

void stream_raw(bool copy_nothing, int capacity) {
    int p[2];
    make_pipe(p, capacity);
    pid_t pid = spawn_posix(stream_argv(), -1, p[1]);
    ::close(p[1]);
    std::uint64_t got = copy_nothing ? splice_to_null(p[0]) : read_loop(p[0]);
    ::close(p[0]);
    PEER_REQUIRE(got == peer::stream_bytes, "floors", "stream: %llu bytes", static_cast<unsigned long long>(got));
    wait_ok(pid, "stream");
}

void stream_tether() {
    tether::spawn_options opt;
    opt.argv = stream_argv();
    opt.out = tether::stdio::pipe(std::size_t{512} << 10);  // as peer_tether's stream
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    tether::chunk_reader reader(out);
    std::uint64_t got = 0;
    for (auto chunk = reader.next(); !chunk.empty(); chunk = reader.next()) got += chunk.size();
    PEER_REQUIRE(got == peer::stream_bytes, "floors", "tether stream: %llu bytes", static_cast<unsigned long long>(got));
    PEER_REQUIRE(c.wait().success(), "floors", "tether stream: the child failed");
}

// ---- forward
void forward_raw() {
    int from[2], to[2];
    make_pipe(from);
    make_pipe(to);
    pid_t src = spawn_posix(stream_argv(), -1, from[1]);
    pid_t dst = spawn_posix({g_child, "drain"}, to[0], -1);
    ::close(from[1]);
    ::close(to[0]);
    static std::vector<char> buf(peer::read_size);
    for (;;) {
        ssize_t n = ::read(from[0], buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        PEER_REQUIRE(n >= 0, "floors", "read: %s", std::strerror(errno));
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = ::write(to[1], buf.data() + off, static_cast<std::size_t>(n - off));
            PEER_REQUIRE(w > 0 || errno == EINTR, "floors", "write: %s", std::strerror(errno));
            if (w > 0) off += w;
        }
    }
    ::close(from[0]);
    ::close(to[1]);
    wait_ok(src, "stream");
    wait_ok(dst, "drain");
}

void forward_none() {  // the floor: the writer's pipe is drain's stdin, nobody in between
    int p[2];
    make_pipe(p, 1 << 20);
    pid_t src = spawn_posix(stream_argv(), -1, p[1]);
    pid_t dst = spawn_posix({g_child, "drain"}, p[0], -1);
    ::close(p[0]);
    ::close(p[1]);
    wait_ok(src, "stream");
    wait_ok(dst, "drain");
}

void forward_tether() {  // as peer_tether's forward: a 1 MiB pipe from the child, 128 KiB into drain
    tether::spawn_options so;
    so.argv = stream_argv();
    so.out = tether::stdio::pipe(std::size_t{1} << 20);
    auto src = tether::spawn(std::move(so));
    auto [ours, theirs] = tether::make_pipe(tether::direction::out, std::size_t{128} << 10);
    tether::spawn_options dopt;
    dopt.argv = {g_child, "drain"};
    dopt.in = tether::stdio::from(std::move(theirs));
    auto dst = tether::spawn(std::move(dopt));
    {
        auto from = src.take_stdout();
        std::uint64_t n = tether::forward(from, ours);
        PEER_REQUIRE(n == peer::stream_bytes, "floors", "tether forward: %llu bytes", static_cast<unsigned long long>(n));
        ours.reset();
    }
    PEER_REQUIRE(src.wait().success() && dst.wait().success(), "floors", "tether forward: a child failed");
}

// ---- the rounds
struct variant {
    const char* name;
    std::function<void()> run;
    std::vector<double> micros;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

void measure(const char* title, std::vector<variant>& vs, int rounds, int per_round) {
    for (auto& v : vs) v.run();  // one warm-up each
    for (int r = 0; r < rounds; ++r) {
        for (auto& v : vs) {
            for (int i = 0; i < per_round; ++i) v.micros.push_back(peer::timed(v.run));
        }
    }
    double base = median(vs.front().micros);
    std::printf("%s: medians of %d rounds x %d, variants in turn\n", title, rounds, per_round);
    for (auto& v : vs) {
        double m = median(v.micros);
        std::printf("  %-58s %10.1f us  %6.3fx raw's time\n", v.name, m, m / base);
    }
}

void pin_to_cpu0() {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) std::printf("note: not pinned: %s\n", std::strerror(errno));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: floors spawn_fds|stream|forward ROUNDS CHILD\n");
        return 2;
    }
    std::string what = argv[1];
    int rounds = std::atoi(argv[2]);
    g_child = argv[3];
    if (rounds <= 0) {
        std::fprintf(stderr, "floors: ROUNDS must be a positive number (got '%s')\n", argv[2]);
        return 2;
    }
    tether::ignore_sigpipe();
    if (what == "spawn_fds") {
        peer::extra_descriptors extra;
        constexpr std::size_t stack_size = 64 * 1024;
        void* stack = ::mmap(nullptr, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        PEER_REQUIRE(stack != MAP_FAILED, "floors", "mmap: %s", std::strerror(errno));
        std::vector<variant> vs = {
            {"raw: posix_spawn (the child gets 2,500 of them)", [] { wait_ok(spawn_posix({"/bin/true"}, -1, -1), "raw"); }, {}},
            {"floor: vfork + CLOSE_RANGE_CLOEXEC + execve (gets 0)", [&] { floor_spawn(stack, stack_size); }, {}},
            {"glibc: posix_spawn + addclosefrom_np(3) (gets 0)",
             [] { wait_ok(spawn_posix({"/bin/true"}, -1, -1, true), "closefrom"); }, {}},
            {"tether::spawn + wait (gets 0)", [] {
                 tether::spawn_options o;
                 o.argv = {"/bin/true"};
                 PEER_REQUIRE(tether::spawn(std::move(o)).wait().success(), "floors", "tether: /bin/true failed");
             }, {}},
        };
        measure("spawn_fds: spawn + wait /bin/true with 5,000 descriptors open (2,500 close-on-exec)", vs, rounds, 10);
    } else if (what == "stream") {
        pin_to_cpu0();
        std::vector<variant> vs = {
            {"raw: default pipe, 64 KiB read loop", [] { stream_raw(false, 0); }, {}},
            {"floor: 512 KiB pipe, splice to /dev/null (copies nothing)", [] { stream_raw(true, 512 << 10); }, {}},
            {"tether: stdio::pipe(512 KiB) + chunk_reader", [] { stream_tether(); }, {}},
        };
        measure("stream: 1 GiB from a child in 64 KiB writes, CPU 0", vs, rounds, 1);
    } else if (what == "forward") {
        pin_to_cpu0();
        std::vector<variant> vs = {
            {"raw: default pipes, 64 KiB read/write loop", [] { forward_raw(); }, {}},
            {"floor: no forwarder (the writer's 1 MiB pipe is drain's stdin)", [] { forward_none(); }, {}},
            {"tether: 1 MiB pipe, forward() into a 128 KiB pipe", [] { forward_tether(); }, {}},
        };
        measure("forward: 1 GiB from a child into drain (splice to /dev/null), CPU 0", vs, rounds, 1);
    } else {
        std::fprintf(stderr, "floors: unknown workload '%s' (spawn_fds, stream or forward)\n", what.c_str());
        return 2;
    }
    return 0;
}
