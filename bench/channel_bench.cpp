// Channel throughput and latency against raw socket I/O, in one run, on the same machine state.
//
//   one-way:   64-byte messages from one thread to another.
//              raw    = one write() per message on an AF_UNIX socketpair; the reader drains with
//                       64 KiB reads (the most generous raw reader: it does no framing at all).
//              tether = send_more() per message and one flush(); the reader calls receive()
//                       per message (framing, validation, a message object each).
//              tether (send) = send() per message, for reference: no coalescing.
//   ping-pong: one 64-byte message there and back, N times.
//              raw    = write() + read() of exactly 64 bytes on each side.
//              tether = send() + receive() on each side.
// Each figure is the median of several repetitions. Targets: one-way >= 2x raw,
// ping-pong round trip <= 1.2x raw. Build with optimisation (-DCMAKE_BUILD_TYPE=Release).
#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t message_size = 64;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct raw_pair {
    tether::unique_handle a, b;
    raw_pair() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
        a.reset(fds[0]);
        b.reset(fds[1]);
    }
};

void write_exact(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) std::abort();
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

void read_exact(int fd, char* p, std::size_t n) {
    while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r <= 0) std::abort();
        p += r;
        n -= static_cast<std::size_t>(r);
    }
}

// Messages per second, one way.
double raw_one_way(std::size_t n) {
    raw_pair p;
    std::thread reader([&] {
        std::vector<char> buf(64 * 1024);
        std::size_t want = n * message_size;
        while (want > 0) {
            ssize_t r = ::read(p.b.get(), buf.data(), buf.size());
            if (r <= 0) std::abort();
            want -= static_cast<std::size_t>(r);
        }
    });
    char msg[message_size] = {};
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) write_exact(p.a.get(), msg, sizeof msg);
    reader.join();
    return static_cast<double>(n) / seconds_since(t0);
}

double tether_one_way(std::size_t n, bool coalesce) {
    auto [ours, theirs] = tether::make_channel();
    tether::channel peer(std::move(theirs));
    std::thread reader([&] {
        for (std::size_t i = 0; i < n; ++i)
            if (peer.receive().payload.size() != message_size) std::abort();
    });
    std::string msg(message_size, 'm');
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) coalesce ? ours.send_more(msg) : ours.send(msg);
    ours.flush();
    reader.join();
    return static_cast<double>(n) / seconds_since(t0);
}

// Microseconds per round trip.
double raw_ping_pong(std::size_t n) {
    raw_pair p;
    std::thread echo([&] {
        char buf[message_size];
        for (std::size_t i = 0; i < n; ++i) {
            read_exact(p.b.get(), buf, sizeof buf);
            write_exact(p.b.get(), buf, sizeof buf);
        }
    });
    char msg[message_size] = {};
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) {
        write_exact(p.a.get(), msg, sizeof msg);
        read_exact(p.a.get(), msg, sizeof msg);
    }
    echo.join();
    return seconds_since(t0) * 1e6 / static_cast<double>(n);
}

double tether_ping_pong(std::size_t n) {
    auto [ours, theirs] = tether::make_channel();
    tether::channel peer(std::move(theirs));
    std::thread echo([&] {
        for (std::size_t i = 0; i < n; ++i) peer.send(peer.receive().payload);
    });
    std::string msg(message_size, 'p');
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) {
        ours.send(msg);
        if (ours.receive().payload.size() != message_size) std::abort();
    }
    echo.join();
    return seconds_since(t0) * 1e6 / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
    // Optional: repetitions (default 7), one-way count, ping-pong count.
    int reps = argc > 1 ? std::atoi(argv[1]) : 7;
    std::size_t n_one_way = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200000;
    std::size_t n_ping = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 20000;
    if (reps < 1 || n_one_way == 0 || n_ping == 0) {
        std::fprintf(stderr, "usage: channel_bench [reps>=1] [one-way count>0] [ping-pong count>0]\n");
        return 2;
    }
    // Interleave raw and tether repetitions so machine noise hits both alike.
    std::vector<double> raw1, tet1, tet1s, rawpp, tetpp;
    for (int i = 0; i < reps; ++i) {
        raw1.push_back(raw_one_way(n_one_way));
        tet1.push_back(tether_one_way(n_one_way, true));
        tet1s.push_back(tether_one_way(n_one_way, false));
        rawpp.push_back(raw_ping_pong(n_ping));
        tetpp.push_back(tether_ping_pong(n_ping));
    }
    double r1 = median(raw1), t1 = median(tet1), t1s = median(tet1s), rp = median(rawpp), tp = median(tetpp);
    std::printf("channel_bench: %d repetitions, medians, %zu-byte messages\n", reps, message_size);
    std::printf("one-way   raw write-per-message : %12.0f msg/s\n", r1);
    std::printf("one-way   tether send_more      : %12.0f msg/s   ratio %.2fx raw (target >= 2x)\n", t1, t1 / r1);
    std::printf("one-way   tether send (no batch): %12.0f msg/s   ratio %.2fx raw (reference)\n", t1s, t1s / r1);
    std::printf("ping-pong raw                   : %12.2f us/round trip\n", rp);
    std::printf("ping-pong tether                : %12.2f us/round trip   ratio %.2fx raw (target <= 1.2x)\n", tp, tp / rp);
    return 0;
}
