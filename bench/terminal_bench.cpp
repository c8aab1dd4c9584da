// A child on a terminal (stdio::terminal()) against what a careful C programmer writes by hand,
// interleaved in one run so that both see the same machine load; medians and their ratios.
//
//   spawn:      tether::spawn with a terminal for stdin/stdout/stderr, read to end-of-file, wait
//               vs. openpty + fork, setsid + TIOCSCTTY + dup2 in the child, exec, the same read
//               to end-of-file (EIO) and waitpid. Program: /bin/true.           target <= 1.10x
//   throughput: 256 MiB that the child writes to the terminal, read by tether::chunk_reader
//               vs. a read() loop on the master with the same buffer size.      target >= 0.95x
//               The child makes its terminal raw first (`stty raw -echo`, the way a program that
//               streams through a terminal would), then `head -c N /dev/zero`: no line-discipline
//               processing per byte on either side, so the ratio measures the reading.
//
// usage: terminal_bench [spawn_rounds [spawns_per_round [stream_rounds [mib]]]]
//        (defaults: 10 100 5 256)
#include <tether/tether.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <pty.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t read_buffer = 64 * 1024;

double seconds(clock_type::duration d) { return std::chrono::duration<double>(d).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto n = v.size();
    return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

[[noreturn]] void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

// The hand-written baseline: forkpty's steps, spelled out.
pid_t raw_spawn(char* const argv[], int& master) {
    int slave = -1;
    winsize ws{24, 80, 0, 0};
    if (::openpty(&master, &slave, nullptr, nullptr, &ws) != 0) die("openpty");
    pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        ::setsid();
        ::ioctl(slave, TIOCSCTTY, 0);
        for (int fd = 0; fd < 3; ++fd) ::dup2(slave, fd);
        ::close(slave);
        ::close(master);
        ::execv(argv[0], argv);
        ::_exit(127);
    }
    ::close(slave);
    return pid;
}

// Reads the master to the end of the session (Linux: EIO); returns the bytes read.
std::size_t raw_drain(int master, std::vector<char>& buf) {
    std::size_t total = 0;
    for (;;) {
        ssize_t n = ::read(master, buf.data(), buf.size());
        if (n > 0) {
            total += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return total;  // 0, or EIO once the child side is closed
        }
    }
}

void raw_wait(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

double raw_run(std::vector<std::string>& args, std::size_t& bytes) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char> buf(read_buffer);
    auto t0 = clock_type::now();
    int master = -1;
    pid_t pid = raw_spawn(argv.data(), master);
    bytes = raw_drain(master, buf);
    raw_wait(pid);
    ::close(master);
    return seconds(clock_type::now() - t0);
}

double tether_run(const std::vector<std::string>& args, std::size_t& bytes) {
    auto t0 = clock_type::now();
    tether::spawn_options opt;
    opt.argv = args;
    opt.in = tether::stdio::terminal();
    opt.out = tether::stdio::terminal();
    opt.err = tether::stdio::terminal();
    auto c = tether::spawn(std::move(opt));
    auto t = c.take_terminal();
    tether::chunk_reader reader(t.output(), read_buffer);
    bytes = 0;
    for (auto chunk = reader.next(); !chunk.empty(); chunk = reader.next()) bytes += chunk.size();
    c.wait();
    return seconds(clock_type::now() - t0);
}

// Each kind next to the other, the order alternating.
void paired(int n, const std::vector<std::string>& args, std::vector<double>& raw, std::vector<double>& teth,
            std::size_t& raw_bytes, std::size_t& tether_bytes) {
    auto raw_args = args;
    for (int i = 0; i < n; ++i) {
        if (i % 2 == 0) {
            raw.push_back(raw_run(raw_args, raw_bytes));
            teth.push_back(tether_run(args, tether_bytes));
        } else {
            teth.push_back(tether_run(args, tether_bytes));
            raw.push_back(raw_run(raw_args, raw_bytes));
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    int spawn_rounds = argc > 1 ? std::atoi(argv[1]) : 10;
    int per_round = argc > 2 ? std::atoi(argv[2]) : 100;
    int stream_rounds = argc > 3 ? std::atoi(argv[3]) : 5;
    long mib = argc > 4 ? std::atol(argv[4]) : 256;
    if (spawn_rounds <= 0 || per_round <= 0 || stream_rounds <= 0 || mib <= 0) {
        std::fprintf(stderr, "usage: terminal_bench [spawn_rounds [spawns_per_round [stream_rounds [mib]]]]\n");
        return 2;
    }
    std::vector<std::string> truth{"/bin/true"};
    std::size_t rb = 0, tb = 0;
    std::vector<double> warm_raw, warm_tether;
    paired(20, truth, warm_raw, warm_tether, rb, tb);  // caches, the page cache, the loader
    std::vector<double> raw, teth;
    for (int r = 0; r < spawn_rounds; ++r) paired(per_round, truth, raw, teth, rb, tb);
    std::printf("spawn on a terminal + read to end-of-file + wait, /bin/true, %d x %d of each, interleaved\n",
                spawn_rounds, per_round);
    std::printf("raw openpty+fork/exec (setsid, TIOCSCTTY): median %8.1f us\n", median(raw) * 1e6);
    std::printf("tether spawn with stdio::terminal():      median %8.1f us\n", median(teth) * 1e6);
    std::printf("ratio tether/raw:                         %8.3f  (target <= 1.10)\n", median(teth) / median(raw));

    std::string script = "stty raw -echo; exec head -c " + std::to_string(mib << 20) + " /dev/zero";
    std::vector<std::string> stream{"/bin/sh", "-c", script};
    std::vector<double> s_raw, s_tether;
    paired(stream_rounds, stream, s_raw, s_tether, rb, tb);
    if (rb != static_cast<std::size_t>(mib << 20) || tb != rb) {
        std::fprintf(stderr, "read %zu bytes (raw) and %zu (tether), expected %ld MiB\n", rb, tb, mib);
        return 1;
    }
    double mb = static_cast<double>(mib);
    std::printf("%ld MiB through the terminal, raw mode, %d runs of each, interleaved, buffer %zu KiB\n", mib,
                stream_rounds, read_buffer / 1024);
    std::printf("raw read() loop on the master: median %8.1f MiB/s\n", mb / median(s_raw));
    std::printf("tether chunk_reader:           median %8.1f MiB/s\n", mb / median(s_tether));
    std::printf("ratio tether/raw (throughput): %8.3f  (target >= 0.95)\n", median(s_raw) / median(s_tether));
    return 0;
}
