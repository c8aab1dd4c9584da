// kill_on_parent_exit, Linux: how long after the parent's SIGKILL the last process of its
// child's tree is gone, for a tree of 1 and of 100 processes, against the raw baseline of the
// same number of direct children that each set PR_SET_PDEATHSIG themselves (the kernel's own
// mechanism, which covers a direct child only). Trials alternate tether and raw in one run.
// Also: what kill_on_parent_exit costs per spawn (spawn + wait of /bin/true with and without).
//
// usage: parent_exit_bench [trials [spawns]]   (defaults: 40 400)
// A "relay" is a copy of this program that is the parent we kill: it starts the tree, prints
// every process id of it on one line, and waits to be killed.
#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double micros(clock_type::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "parent_exit_bench: %s\n", what.c_str());
    std::exit(1);
}

// tether: one child, a shell that starts n-1 background sleeps and then becomes a sleep itself.
[[noreturn]] void relay_tether(int n) {
    std::string script = "i=1; while [ $i -lt " + std::to_string(n) + " ]; do sleep 1000 & echo $!; i=$((i+1)); done; "
                         "echo $$; exec sleep 1000";
    tether::spawn_options opt;
    opt.argv = {"/bin/sh", "-c", script};
    opt.kill_on_parent_exit = true;
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    std::string ids;
    for (int lines = 0; lines < n;) {
        std::byte b[1];
        if (tether::read(out, b) == 0) fail("relay: the tree's shell ended early");
        char ch = static_cast<char>(b[0]);
        ids += ch == '\n' ? ' ' : ch;
        lines += ch == '\n' ? 1 : 0;
    }
    std::printf("%s\n", ids.c_str());
    std::fflush(stdout);
    for (;;) ::pause();
}

// Raw: n direct children, each arming PR_SET_PDEATHSIG before it execs a sleep.
[[noreturn]] void relay_raw(int n) {
    std::string ids;
    pid_t me = ::getpid();
    for (int i = 0; i < n; ++i) {
        pid_t p = ::fork();
        if (p == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != me) ::_exit(127);
            ::execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ids += std::to_string(p) + " ";
    }
    std::printf("%s\n", ids.c_str());
    std::fflush(stdout);
    for (;;) ::pause();
}

// Starts a relay, takes its tree's ids (as pidfds, so no id can be reused under us), SIGKILLs
// the relay and times until every pidfd is readable (its process has ended).
double one_trial(const char* self, const char* mode, int n) {
    tether::spawn_options opt;
    opt.argv = {self, mode, std::to_string(n)};
    opt.out = tether::stdio::pipe();
    auto relay = tether::spawn(std::move(opt));
    auto out = relay.take_stdout();
    std::string line;
    for (std::byte b[1]; tether::read(out, b) == 1 && static_cast<char>(b[0]) != '\n';) line += static_cast<char>(b[0]);
    std::istringstream in(line);
    std::vector<pollfd> fds;
    for (long id; in >> id;) {
        int fd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(id), 0));
        if (fd < 0) fail("pidfd_open " + std::to_string(id));
        fds.push_back({fd, POLLIN, 0});
    }
    if (fds.size() != static_cast<std::size_t>(n)) fail("the relay reported " + std::to_string(fds.size()) + " ids");
    auto t0 = clock_type::now();
    relay.kill();
    for (std::size_t left = fds.size(); left > 0;) {
        if (::poll(fds.data(), fds.size(), 10000) <= 0) fail(std::string(mode) + ": a process survived its parent by 10 s");
        for (auto& p : fds)
            if (p.fd >= 0 && (p.revents & POLLIN) != 0) {
                ::close(p.fd);
                p.fd = -1;
                --left;
            }
    }
    auto t = micros(clock_type::now() - t0);
    relay.wait();
    return t;
}

double percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

double spawn_wait(bool kope) {
    auto t0 = clock_type::now();
    tether::spawn_options opt;
    opt.argv = {"/bin/true"};
    opt.kill_on_parent_exit = kope;
    auto c = tether::spawn(std::move(opt));
    if (!c.wait().success()) fail("/bin/true failed");
    return micros(clock_type::now() - t0);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "relay-tether") relay_tether(std::atoi(argv[2]));
    if (argc == 3 && std::string(argv[1]) == "relay-raw") relay_raw(std::atoi(argv[2]));
    int trials = argc > 1 ? std::atoi(argv[1]) : 40;
    int spawns = argc > 2 ? std::atoi(argv[2]) : 400;
    std::printf("time from the parent's SIGKILL to the last process of the tree gone (us), %d trials each\n", trials);
    std::printf("%-34s %10s %10s %10s %10s %8s\n", "tree", "tether p50", "raw p50", "tether p99", "raw p99", "p50 x");
    for (int n : {1, 100}) {
        std::vector<double> t, r;
        for (int i = 0; i < trials; ++i) {
            bool tether_first = i % 2 == 0;
            (tether_first ? t : r).push_back(one_trial(argv[0], tether_first ? "relay-tether" : "relay-raw", n));
            (tether_first ? r : t).push_back(one_trial(argv[0], tether_first ? "relay-raw" : "relay-tether", n));
        }
        std::printf("%-34s %10.0f %10.0f %10.0f %10.0f %7.2fx\n",
                    (std::to_string(n) + (n == 1 ? " process" : " processes") + " (raw: direct children)").c_str(),
                    percentile(t, 0.5), percentile(r, 0.5), percentile(t, 0.99), percentile(r, 0.99),
                    percentile(t, 0.5) / percentile(r, 0.5));
    }
    std::vector<double> with, without;
    for (int i = 0; i < spawns; ++i) {
        with.push_back(spawn_wait(true));
        without.push_back(spawn_wait(false));
    }
    double w = percentile(with, 0.5), wo = percentile(without, 0.5);
    std::printf("spawn + wait /bin/true: kill_on_parent_exit %.0f us, without %.0f us (median of %d): %.2fx, +%.0f us\n", w,
                wo, spawns, w / wo, w - wo);
    return 0;
}
