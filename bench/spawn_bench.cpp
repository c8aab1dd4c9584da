// Spawn-and-wait of /bin/true: tether::spawn + child::wait against raw posix_spawn + waitpid,
// interleaved in one run (spawn by spawn, alternating which goes first) so that both see the
// same machine load. Prints the median of each, over all spawns, and the ratio.
//
// usage: spawn_bench [rounds [spawns_per_round [program]]]   (defaults: 10 200 /bin/true)
#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <vector>

extern char** environ;  // NOLINT: POSIX names it so

namespace {

using clock_type = std::chrono::steady_clock;

double micros(clock_type::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// The raw baseline: what a careful C programmer writes (no stdio changes, no fd closing).
double raw_once(const char* program) {
    auto t0 = clock_type::now();
    pid_t pid = -1;
    char* argv[] = {const_cast<char*>(program), nullptr};  // NOLINT: posix_spawn's signature
    if (posix_spawn(&pid, program, nullptr, nullptr, argv, environ) != 0) {
        std::perror("posix_spawn");
        std::exit(1);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    return micros(clock_type::now() - t0);
}

double tether_once(const char* program) {
    auto t0 = clock_type::now();
    tether::spawn_options opt;
    opt.argv = {program};
    auto c = tether::spawn(std::move(opt));
    if (!c.wait().success()) {
        std::fprintf(stderr, "%s failed\n", program);
        std::exit(1);
    }
    return micros(clock_type::now() - t0);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto n = v.size();
    return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 10;
    int per_round = argc > 2 ? std::atoi(argv[2]) : 200;
    const char* program = argc > 3 ? argv[3] : "/bin/true";
    if (rounds <= 0 || per_round <= 0) {
        std::fprintf(stderr, "usage: spawn_bench [rounds [spawns_per_round [program]]]\n");
        return 2;
    }
    for (int i = 0; i < 20; ++i) {  // warm up caches, the page cache and the dynamic loader
        raw_once(program);
        tether_once(program);
    }
    // Paired: each spawn of one kind is next to one of the other, the order alternating, so a
    // burst of load from elsewhere on the machine hits both alike.
    std::vector<double> raw, teth;
    for (int r = 0; r < rounds; ++r) {
        for (int i = 0; i < per_round; ++i) {
            if ((r + i) % 2 == 0) {
                raw.push_back(raw_once(program));
                teth.push_back(tether_once(program));
            } else {
                teth.push_back(tether_once(program));
                raw.push_back(raw_once(program));
            }
        }
    }
    double m_raw = median(raw), m_tether = median(teth);
    // The cost must not grow with our memory (clone with CLONE_VM | CLONE_VFORK copies no page
    // tables): the same spawn again with 256 MiB touched in the parent.
    std::vector<char> ballast(256u << 20);
    for (std::size_t i = 0; i < ballast.size(); i += 4096) ballast[i] = 1;
    std::vector<double> heavy, heavy_raw;
    for (int i = 0; i < per_round; ++i) {
        heavy.push_back(tether_once(program));
        heavy_raw.push_back(raw_once(program));
    }
    std::printf("spawn+wait %s, %d rounds x %d spawns of each, interleaved\n", program, rounds, per_round);
    std::printf("raw posix_spawn+waitpid: median %8.1f us\n", m_raw);
    std::printf("tether spawn+wait:       median %8.1f us\n", m_tether);
    std::printf("ratio tether/raw:        %8.3f  (target <= 1.10)\n", m_tether / m_raw);
    std::printf("with 256 MiB touched in the parent (%d spawns of each): raw %.1f us, tether %.1f us\n",
                per_round, median(heavy_raw), median(heavy));
    return 0;
}
