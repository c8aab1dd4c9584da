// holders() with N copies of one pipe end (1,000 copies once took 6-7 s, 3,000 did not
// finish in 30 s): holders(self, read end) and holders(self) against a raw /proc scan in the
// same run — every process's fd directory listed, every link read, and fdinfo read for every
// pipe descriptor, which is the least any answer needs. Prints the medians and the ratios.
//
// usage: holders_bench [copies [rounds]]   (defaults: 10000 5)
#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double millis(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// The raw baseline: what any holders implementation must at least read.
std::size_t raw_scan() {
    std::size_t pipes = 0;
    DIR* proc = ::opendir("/proc");
    while (dirent* p = ::readdir(proc)) {
        if (p->d_name[0] < '0' || p->d_name[0] > '9') continue;
        std::string dir = std::string("/proc/") + p->d_name + "/fd";
        DIR* fds = ::opendir(dir.c_str());
        if (fds == nullptr) continue;
        while (dirent* f = ::readdir(fds)) {
            if (f->d_name[0] == '.') continue;
            char link[256];
            ssize_t n = ::readlinkat(::dirfd(fds), f->d_name, link, sizeof link);
            if (n < 6 || std::string_view(link, 5) != "pipe:") continue;
            std::string info = std::string("/proc/") + p->d_name + "/fdinfo/" + f->d_name;
            int fd = ::open(info.c_str(), O_RDONLY | O_CLOEXEC);
            char buf[512];
            if (fd >= 0 && ::read(fd, buf, sizeof buf) > 0) ++pipes;
            if (fd >= 0) ::close(fd);
        }
        ::closedir(fds);
    }
    ::closedir(proc);
    return pipes;
}

}  // namespace

int main(int argc, char** argv) {
    int copies = argc > 1 ? std::atoi(argv[1]) : 10000;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, static_cast<rlim_t>(copies) + 1024);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    auto [r, w] = tether::make_pipe();
    std::vector<tether::unique_handle> held;
    for (int i = 0; i < copies; ++i) {
        held.emplace_back(::fcntl(w.get(), F_DUPFD_CLOEXEC, 0));
        if (!held.back()) {
            std::perror("holders_bench: dup (raise RLIMIT_NOFILE)");
            return 1;
        }
    }
    std::vector<double> raw, one, whole;
    std::size_t text = 0;
    for (int i = 0; i < rounds; ++i) {
        auto t0 = clock_type::now();
        (void)raw_scan();
        raw.push_back(millis(clock_type::now() - t0));
        t0 = clock_type::now();
        auto rep = tether::holders(tether::this_process_id(), r.get());
        one.push_back(millis(clock_type::now() - t0));
        text = tether::describe(rep).size();
        t0 = clock_type::now();
        (void)tether::holders(tether::this_process_id());
        whole.push_back(millis(clock_type::now() - t0));
    }
    std::printf("holders with %d copies of one pipe end (median of %d rounds):\n", copies + 1, rounds);
    std::printf("  raw /proc scan (links + pipe fdinfo) %9.1f ms\n", median(raw));
    std::printf("  holders(self, read end)              %9.1f ms  ratio %.2f  (describe(): %zu bytes)\n",
                median(one), median(one) / median(raw), text);
    std::printf("  holders(self)                        %9.1f ms  ratio %.2f\n", median(whole),
                median(whole) / median(raw));
    std::printf("  target: under 1000 ms for 10,000 copies: %s\n",
                median(one) < 1000 && median(whole) < 1000 ? "met" : "NOT met");
    return 0;
}
