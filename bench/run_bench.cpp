// run() against the raw calls, in one run:
//   true:    run() of /bin/true (stdout and stderr captured)  vs  tether::spawn + wait
//            (no pipes) and raw posix_spawn + waitpid — target run() <= 1.05x spawn+wait;
//   capture: 1 GiB from a child through run()  vs  the raw loop: posix_spawn with a pipe,
//            read() 64 KiB at a time appended to a std::string, waitpid — target <= 1.05x;
//   tree:    a tree of 50 processes (a shell and 49 sleeps), run() with a deadline and
//            kill_tree: from the deadline to run()'s return (the tree gone, end-of-file
//            read), median and p99.
// Medians of interleaved rounds. Usage: run_bench [rounds] [capture MiB]
#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

double us_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

double raw_true() {
    auto t0 = clock_type::now();
    pid_t pid = 0;
    char arg0[] = "/bin/true";
    char* argv[] = {arg0, nullptr};
    if (::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) std::abort();
    int st = 0;
    ::waitpid(pid, &st, 0);
    return us_since(t0);
}

double spawn_true() {
    auto t0 = clock_type::now();
    tether::spawn_options o;
    o.argv = {"/bin/true"};
    (void)tether::spawn(std::move(o)).wait();
    return us_since(t0);
}

// The same streams as run()'s by hand: two pipes, both read to end-of-file, then wait.
double spawn_pipes_true() {
    auto t0 = clock_type::now();
    tether::spawn_options o;
    o.argv = {"/bin/true"};
    o.out = tether::stdio::pipe();
    o.err = tether::stdio::pipe();
    auto c = tether::spawn(std::move(o));
    (void)tether::read_to_end(c.take_stdout());
    (void)tether::read_to_end(c.take_stderr());
    (void)c.wait();
    return us_since(t0);
}

double run_true() {
    auto t0 = clock_type::now();
    tether::spawn_options o;
    o.argv = {"/bin/true"};
    (void)tether::run(std::move(o));
    return us_since(t0);
}

std::string flood_script(std::size_t mib) {
    return "head -c " + std::to_string(mib) + "M /dev/zero";
}

double raw_capture(std::size_t mib) {
    auto t0 = clock_type::now();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    posix_spawn_file_actions_t fa;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    auto script = flood_script(mib);
    char sh[] = "/bin/sh", c[] = "-c";
    char* argv[] = {sh, c, script.data(), nullptr};
    pid_t pid = 0;
    if (::posix_spawn(&pid, "/bin/sh", &fa, nullptr, argv, environ) != 0) std::abort();
    ::posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (out.size() != mib << 20) std::abort();
    return us_since(t0);
}

double run_capture(std::size_t mib) {
    auto t0 = clock_type::now();
    tether::spawn_options o;
    o.argv = {"/bin/sh", "-c", flood_script(mib)};
    tether::run_options ro;
    ro.capture_stderr = false;
    auto r = tether::run(std::move(o), ro);
    if (r.out.size() != mib << 20) std::abort();
    return us_since(t0);
}

// From the deadline to run()'s return for a tree of 50 processes.
double tree_gone() {
    tether::spawn_options o;
    o.argv = {"/bin/sh", "-c", "for i in $(seq 49); do sleep 100 & done; echo up; wait"};
    tether::run_options ro;
    ro.timeout = 500ms;
    ro.kill_tree = true;
    std::error_code ec;
    std::string message;
    auto t0 = clock_type::now();
    auto r = tether::run(std::move(o), ro, ec, message);
    double us = us_since(t0) - 500'000.0;
    if (!r.timed_out || !r.stuck.empty() || r.out != "up\n") {
        std::fprintf(stderr, "run_bench: the tree run went wrong: %s (out '%s')\n", message.c_str(), r.out.c_str());
        std::exit(1);
    }
    return us;
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 200;
    std::size_t mib = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
    if (rounds < 3 || mib == 0) {
        std::fprintf(stderr, "usage: run_bench [rounds>=3] [capture MiB>0]\n");
        return 2;
    }
    std::vector<double> raw, sp, spp, rn;
    // The order rotates every round, so no kind always follows the same other kind (a child
    // still being torn down, a cold cache) and load from elsewhere hits all alike.
    for (int i = 0; i < rounds; ++i) {
        for (int k = 0; k < 4; ++k) {
            switch ((i + k) % 4) {
                case 0: raw.push_back(raw_true()); break;
                case 1: sp.push_back(spawn_true()); break;
                case 2: spp.push_back(spawn_pipes_true()); break;
                default: rn.push_back(run_true()); break;
            }
        }
    }
    double s = percentile(sp, 0.5), r = percentile(rn, 0.5), sq = percentile(spp, 0.5);
    std::printf("true     raw posix_spawn+waitpid %8.1f us  tether spawn+wait %8.1f us  run() %8.1f us   "
                "run/spawn+wait %.3fx (target <= 1.05x)\n", percentile(raw, 0.5), s, r, r / s);
    std::printf("true     spawn with the same two pipes, read to end, wait %8.1f us   run/that %.3fx\n", sq, r / sq);
    std::vector<double> rc, tc;
    for (int i = 0; i < 5; ++i) {
        rc.push_back(raw_capture(mib));
        tc.push_back(run_capture(mib));
    }
    double a = percentile(rc, 0.5), b = percentile(tc, 0.5);
    std::printf("capture  %zu MiB: raw read loop %8.1f ms  run() %8.1f ms   ratio %.3fx (target <= 1.05x)\n", mib,
                a / 1000, b / 1000, b / a);
    std::vector<double> tg;
    for (int i = 0; i < 20; ++i) tg.push_back(tree_gone());
    std::printf("tree     50 processes, deadline -> tree gone and run() returned: median %8.1f us  p99 %8.1f us\n",
                percentile(tg, 0.5), percentile(tg, 0.99));
    return 0;
}
