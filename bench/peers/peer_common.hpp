// bench/peers/peer_common.hpp — what every C++ peer shares (bench/peers/PROTOCOL.md): the
// command line, the output lines, the clock, the workload sizes, the 2 GiB touch and the
// 5,000-descriptor setup. Header-only and plain POSIX (no tether), so any peer may include it.
#pragma once

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

namespace peer {

// ---- The workload sizes of PROTOCOL.md, one place for every peer.
inline constexpr std::uint64_t stream_bytes = 1073741824;  ///< stream/forward: 1 GiB
inline constexpr std::uint64_t stream_chunk = 65536;        ///< the child's write size
inline constexpr std::size_t read_size = 65536;             ///< raw's read loop
inline constexpr int warmups = 3;                           ///< unmeasured iterations first (at most)
inline constexpr int children_warmups = 1;                  ///< children: one round of 1,000 is enough
inline constexpr std::size_t message_size = 64;             ///< messages: one message
inline constexpr std::size_t messages_per_iteration = 100000;
inline constexpr std::uint64_t sink_ack_bytes = message_size * messages_per_iteration;
inline constexpr int children_per_iteration = 1000;         ///< children
inline constexpr int extra_fds = 5000;                      ///< spawn_fds: half of them CLOEXEC
inline constexpr std::size_t touch_bytes = std::size_t{2} << 30;  ///< spawn_2g
inline constexpr std::size_t page_size = 4096;
inline constexpr int linger_ms = 600;  ///< threads: B's children live 0.6 s (a leak can still delay A past 500 ms)
inline constexpr int threads_min_iterations = 1000;         ///< threads: at least this many A's
/// threads: thread B starts one `linger` child every 10 ms while A runs (about 100 alive at once).
/// Paced, not back to back: a leaked pipe end delays A by up to 1 s, and a B that never paused
/// would make every A iteration wait for a lingerer, which measures nothing but the linger time.
inline constexpr std::chrono::milliseconds threads_spawn_interval{10};
inline constexpr std::chrono::milliseconds delayed_after{500};  ///< threads: A counts as delayed
inline constexpr std::chrono::milliseconds hang_after{2000};    ///< kill_eof: a hang

// ---- The command line: peer_X WORKLOAD ITERATIONS CHILD.
struct args {
    std::string workload;
    int iterations{0};
    std::string child;  ///< absolute path of peer_child
};

/// A failure: names the workload on stderr and exits 1 (PROTOCOL: fail loudly, non-zero).
template <class... A>
[[noreturn]] void fail(std::string_view workload, const char* fmt, A... a) {
    std::fprintf(stderr, "%.*s: ", static_cast<int>(workload.size()), workload.data());
    if constexpr (sizeof...(A) == 0) {
        std::fputs(fmt, stderr);
    } else {
        std::fprintf(stderr, fmt, a...);
    }
    std::fputc('\n', stderr);
    std::fflush(stdout);
    std::exit(1);
}

/// fail() when `ok` is false. A macro so that the message's arguments (describe(), message())
/// are only evaluated on failure: a function would format them on every call, inside the timed
/// loops, and charge the system whose peer checks most carefully.
#define PEER_REQUIRE(ok, ...)          \
    do {                               \
        if (!(ok)) {                   \
            ::peer::fail(__VA_ARGS__); \
        }                              \
    } while (false)

/// Parses argv; exits 2 with a usage line if it is not WORKLOAD ITERATIONS CHILD.
inline args parse(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s WORKLOAD ITERATIONS CHILD\n", argc > 0 ? argv[0] : "peer");
        std::exit(2);
    }
    args a;
    a.workload = argv[1];
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(argv[2], &end, 10);
    if (errno != 0 || end == argv[2] || *end != '\0' || n <= 0 || n > 100000000) {
        std::fprintf(stderr, "%s: ITERATIONS must be a positive integer, not '%s'\n", argv[0], argv[2]);
        std::exit(2);
    }
    a.iterations = static_cast<int>(n);
    a.child = argv[3];
    if (a.child.empty() || a.child.front() != '/' || access(a.child.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "%s: CHILD must be the absolute path of peer_child, not '%s'\n", argv[0],
                     argv[3]);
        std::exit(2);
    }
    return a;
}

/// An unknown workload: exits 2.
[[noreturn]] inline void unknown_workload(const args& a) {
    std::fprintf(stderr, "unknown workload '%s'\n", a.workload.c_str());
    std::exit(2);
}

// ---- Output (stdout, one line each; flushed, so a peer that fails later keeps its lines).
inline void sample(double micros) {
    std::printf("sample %.3f\n", micros);
    std::fflush(stdout);
}
inline void info(const char* key, long long value) {
    std::printf("info %s=%lld\n", key, value);
    std::fflush(stdout);
}
/// The workload cannot be expressed with this API: says why and exits 0.
[[noreturn]] inline void skip(const char* reason) {
    std::printf("skip %s\n", reason);
    std::fflush(stdout);
    std::exit(0);
}

// ---- The clock.
using clock_type = std::chrono::steady_clock;
inline double micros(clock_type::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

/// Runs `f` and returns its wall time in microseconds.
template <class F>
double timed(F&& f) {
    auto t0 = clock_type::now();
    f();
    return micros(clock_type::now() - t0);
}

/// The iteration loop: `warm` unmeasured calls of `once` (no more than the measured ones: quick
/// mode's single sample of 1,000 children needs no 3,000 children of warm-up), then
/// a.iterations measured ones, each printed as a sample. `once` returns the measured
/// microseconds (so a workload can time only part of its iteration, e.g. kill_eof), or use
/// timed() inside it.
template <class F>
void run(const args& a, F&& once, int warm = warmups) {
    warm = std::min(warm, a.iterations);
    for (int i = 0; i < warm; ++i) {
        (void)once();
    }
    for (int i = 0; i < a.iterations; ++i) {
        sample(once());
    }
}

/// The median (the mean of the middle two for an even count); 0 for none.
// A child that dies early must fail the workload with a message, not end this peer silently by
// SIGPIPE: the signal is caught (a no-op handler, so the write reports EPIPE), not ignored, so
// the children see the default again (exec resets caught signals, keeps ignored ones).
inline void catch_sigpipe() {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPIPE, &sa, nullptr);
}

inline double median(std::vector<double> v) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    auto n = v.size();
    return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// Parses the whole of `text` (trailing whitespace allowed) as a non-negative count; -1 if it
/// is not one. For the output of `peer_child fds`.
inline long long parse_count(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    if (text.empty() || text.size() > 18) {
        return -1;
    }
    long long v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return -1;
        }
        v = v * 10 + (c - '0');
    }
    return v;
}

// ---- spawn_2g: 2 GiB of anonymous memory, one write per 4 KiB page, mapped while this lives.
class touched_memory {
public:
    touched_memory() {
        void* p = mmap(nullptr, touch_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            fail("spawn_2g", "mmap of 2 GiB: %s", std::strerror(errno));
        }
        p_ = static_cast<volatile unsigned char*>(p);
        for (std::size_t off = 0; off < touch_bytes; off += page_size) {
            p_[off] = 1;
        }
    }
    touched_memory(const touched_memory&) = delete;
    touched_memory& operator=(const touched_memory&) = delete;
    ~touched_memory() { munmap(const_cast<unsigned char*>(p_), touch_bytes); }

private:
    volatile unsigned char* p_{nullptr};
};

// ---- spawn_fds: 5,000 extra descriptors, dups of /dev/null: 2,500 close-on-exec, 2,500 not.
// Raises the soft RLIMIT_NOFILE to the hard limit first if it is too low. Closed by the
// destructor.
class extra_descriptors {
public:
    extra_descriptors() {
        raise_limit();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0) {
            fail("spawn_fds", "open /dev/null: %s", std::strerror(errno));
        }
        fds_.reserve(extra_fds);
        for (int i = 0; i < extra_fds; ++i) {
            // Alternate, so both kinds spread over the whole descriptor range.
            int fd = fcntl(null, i % 2 == 0 ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
            if (fd < 0) {
                fail("spawn_fds", "dup of /dev/null #%d: %s", i, std::strerror(errno));
            }
            fds_.push_back(fd);
        }
        close(null);
    }
    extra_descriptors(const extra_descriptors&) = delete;
    extra_descriptors& operator=(const extra_descriptors&) = delete;
    ~extra_descriptors() {
        for (int fd : fds_) {
            close(fd);
        }
    }

private:
    static void raise_limit() {
        rlimit rl{};
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
            fail("spawn_fds", "getrlimit: %s", std::strerror(errno));
        }
        constexpr rlim_t needed = extra_fds + 1024;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed) {
            if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < needed) {
                fail("spawn_fds", "RLIMIT_NOFILE hard limit %llu is below %llu",
                     static_cast<unsigned long long>(rl.rlim_max), static_cast<unsigned long long>(needed));
            }
            rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? needed : rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
                fail("spawn_fds", "setrlimit: %s", std::strerror(errno));
            }
        }
    }
    std::vector<int> fds_;
};

}  // namespace peer
