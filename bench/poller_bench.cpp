// Supervising many children from one thread, against raw epoll, in one run.
//
//   spawn:      1,000 children, each with a channel, registered with one tether::poller
//               (add(channel, child, token)); time until every child has said "up".
//   memory:     the parent's RSS growth per child with its idle channel ((after - before) / N).
//   detection:  SIGKILL -> the poller's event, median and p99, one child at a time:
//               raw    = epoll_wait on the child's pidfd (a duplicate), then waitid(P_PIDFD) to
//                        reap it: the least raw code that learns of an exit AND its status,
//                        which is what the `exited` event carries (the event-only figure, no
//                        reap, is printed too, for reference);
//               exited = poller.add(child): the `exited` event (dispatch cost vs raw);
//               vanished = the channel's `vanished` event joined with the exit status.
//   messages:   64-byte one-way messages from a thread, received through poller.wait():
//               raw    = one write() per message, the reader epoll_wait + 64 KiB read();
//               tether = send_more() per message (coalesced), message events.
//
// Targets: detection p99 < 1 ms; < 16 KiB parent memory per child with an idle
// channel; exited dispatch within 1.10x raw; one-way messages >= 2x raw.
// Usage: poller_bench [children=1000] [messages=200000]. Build with -DCMAKE_BUILD_TYPE=Release.
#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

double us_since(clock_type::time_point t0) { return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count(); }

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

long rss_kib() {
    std::ifstream statm("/proc/self/statm");
    long size = 0, resident = 0;
    statm >> size >> resident;
    return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

void raise_fd_limit() {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
}

int child_main() {
    auto ctl = tether::channel::inherited("control");
    ctl.send("up");
    while (ctl.receive().is_data()) {
    }
    return 0;
}

struct worker {
    tether::channel ctl;
    tether::child proc;
};

std::vector<tether::poll_event> events;

// Waits for `n` events of kind `k` (bounded: 60 s).
void await(tether::poller& p, std::size_t n, tether::poll_event::kind k) {
    std::size_t seen = 0;
    auto until = clock_type::now() + 60s;
    while (seen < n && clock_type::now() < until) {
        p.wait(events, 1s);
        for (auto& e : events) seen += e.what == k;
    }
    if (seen < n) {
        std::fprintf(stderr, "poller_bench: only %zu of %zu events\n", seen, n);
        std::exit(1);
    }
}

double raw_detect_one(tether::child& c, bool reap) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    auto pidfd = tether::unique_handle(::fcntl(c.process_handle().get(), F_DUPFD_CLOEXEC, 0));
    epoll_event ev{EPOLLIN, {}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, pidfd.get(), &ev);
    auto t0 = clock_type::now();
    c.kill();
    epoll_event out{};
    while (::epoll_wait(ep, &out, 1, 5000) != 1) {
    }
    if (reap) {
        siginfo_t si{};
        ::waitid(static_cast<idtype_t>(3 /* P_PIDFD */), static_cast<id_t>(pidfd.get()), &si, WEXITED);
    }
    double us = us_since(t0);
    ::close(ep);
    if (!reap) (void)c.wait();  // reaped outside the measurement
    return us;
}

double tether_detect_one(tether::poller& p, tether::child& c, std::uint64_t token, tether::poll_event::kind k) {
    auto t0 = clock_type::now();
    c.kill();
    for (;;) {
        p.wait(events, 5s);
        for (auto& e : events)
            if (e.token == token && e.what == k) return us_since(t0);
    }
}

void report_detection(const char* name, const std::vector<double>& v, double raw_median) {
    double med = percentile(v, 0.5), p99 = percentile(v, 0.99);
    std::printf("detection %-9s median %8.1f us  p99 %8.1f us", name, med, p99);
    if (raw_median > 0) std::printf("   ratio %.2fx raw (target <= 1.10x)", med / raw_median);
    std::printf("\n");
}

void supervise(std::size_t n) {
    raise_fd_limit();
    tether::poller p;
    std::vector<worker> pool(n);
    long before = rss_kib();
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) {
        auto [ours, theirs] = tether::make_channel();
        tether::spawn_options opt;
        opt.argv = {tether::current_executable_path(), "--child"};
        opt.pass(std::move(theirs), "control");
        pool[i].ctl = std::move(ours);
        pool[i].proc = tether::spawn(std::move(opt));
        p.add(pool[i].ctl, pool[i].proc, i);
    }
    await(p, n, tether::poll_event::kind::message);
    double spawn_ms = us_since(t0) / 1000;
    long after = rss_kib();
    std::printf("spawn     %zu children with channels, all up: %.0f ms (%.0f us per child)\n", n, spawn_ms,
                spawn_ms * 1000 / static_cast<double>(n));
    std::printf("memory    parent RSS +%ld KiB = %.1f KiB per child with an idle channel (target < 16 KiB)\n",
                after - before, static_cast<double>(after - before) / static_cast<double>(n));
    // Detection: interleave raw, exited and vanished, one child each, over thirds of the pool.
    std::vector<double> raw, raw_event, exited, vanished;
    // Each measurement starts from a quiet poller: the raw child's channel is removed before
    // its kill (else its end-of-file would be served inside the next tether measurement), and
    // the exited child's channel after its event (its vanished event is no part of `exited`).
    for (std::size_t i = 0; i + 2 < n; i += 3) {
        p.remove(i);
        raw.push_back(raw_detect_one(pool[i].proc, (i / 3) % 2 == 0));
        if ((i / 3) % 2 == 1) raw_event.push_back(raw.back()), raw.pop_back();
        p.add(pool[i + 1].proc, 1'000'000 + i);
        exited.push_back(tether_detect_one(p, pool[i + 1].proc, 1'000'000 + i, tether::poll_event::kind::exited));
        p.remove(i + 1);
        vanished.push_back(tether_detect_one(p, pool[i + 2].proc, i + 2, tether::poll_event::kind::vanished));
    }
    double raw_med = percentile(raw, 0.5);
    report_detection("raw+reap", raw, 0);
    report_detection("raw event", raw_event, 0);
    report_detection("exited", exited, raw_med);
    report_detection("vanished", vanished, 0);
    for (auto& w : pool) {
        std::error_code ec;
        w.ctl.close(ec);  // goodbye to the living; the killed are gone (ec says so)
        try {
            if (w.proc) (void)w.proc.wait();
        } catch (const std::system_error&) {  // reaped by the raw baseline's waitid
        }
    }
}

double raw_messages(std::size_t n) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
    tether::unique_handle a(fds[0]), b(fds[1]);
    std::thread writer([&] {
        char msg[64] = {};
        for (std::size_t i = 0; i < n; ++i)
            if (::send(a.get(), msg, sizeof msg, MSG_NOSIGNAL) != sizeof msg) std::abort();
    });
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{EPOLLIN, {}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, b.get(), &ev);
    std::vector<char> buf(64 * 1024);
    std::size_t want = n * 64;
    auto t0 = clock_type::now();
    while (want > 0) {
        epoll_event out{};
        if (::epoll_wait(ep, &out, 1, 5000) != 1) std::abort();
        ssize_t r = ::read(b.get(), buf.data(), buf.size());
        if (r <= 0) std::abort();
        want -= static_cast<std::size_t>(r);
    }
    double s = us_since(t0) / 1e6;
    writer.join();
    ::close(ep);
    return static_cast<double>(n) / s;
}

double tether_messages(std::size_t n) {
    auto [ours, theirs] = tether::make_channel();
    tether::channel peer(std::move(theirs));
    tether::poller p;
    p.add(ours, 1);
    std::thread writer([&] {
        std::string msg(64, 'm');
        for (std::size_t i = 0; i < n; ++i) peer.send_more(msg);
        peer.flush();
    });
    std::size_t got = 0;
    auto t0 = clock_type::now();
    while (got < n) {
        p.wait(events, 5s);
        for (auto& e : events)
            if (e.what == tether::poll_event::kind::message && e.msg.payload.size() == 64) ++got;
    }
    double s = us_since(t0) / 1e6;
    writer.join();
    return static_cast<double>(n) / s;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--child") == 0) return child_main();
    std::size_t children = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
    std::size_t messages = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200000;
    if (children < 3 || messages == 0) {
        std::fprintf(stderr, "usage: poller_bench [children>=3] [messages>0]\n");
        return 2;
    }
    std::printf("poller_bench: %zu children, %zu messages; medians\n", children, messages);
    supervise(children);
    std::vector<double> raw, tet;
    for (int i = 0; i < 5; ++i) {
        raw.push_back(raw_messages(messages));
        tet.push_back(tether_messages(messages));
    }
    double r = percentile(raw, 0.5), t = percentile(tet, 0.5);
    std::printf("messages  raw write-per-message + epoll : %10.0f msg/s\n", r);
    std::printf("messages  tether through the poller     : %10.0f msg/s   ratio %.2fx raw (target >= 2x)\n", t, t / r);
    return 0;
}
