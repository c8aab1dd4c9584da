// Reads tied to a child against the same reads untied, and a raw read() loop, in one run. The
// child is `head -c N /dev/zero` writing into a stdio::pipe(); each round starts a new one.
// Rows (median ms per GiB of the rounds, and throughput ratios; higher is better):
//   chunks      - raw read() into a buffer of the reader's size / chunk_reader / tied_chunk_reader;
//   read_to_end - read_to_end(h) / read_to_end(h, child, grace) (both append to a string).
// What a tie costs is one poll()-style wait per empty pipe: a read that found data never waits.
//
// usage: tied_bench [MiB per round] [rounds]   (defaults 256, 8)
#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

tether::child start_writer(std::size_t bytes) {
    tether::spawn_options opt;
    opt.argv = {"head", "-c", std::to_string(bytes), "/dev/zero"};
    opt.out = tether::stdio::pipe();
    return tether::spawn(std::move(opt));
}

// One round of `reader` over a new writer of `bytes`: milliseconds per GiB. Exits on a short read.
double round_ms_per_gib(std::size_t bytes, const std::function<std::size_t(tether::borrowed_handle, tether::child&)>& reader) {
    auto c = start_writer(bytes);
    auto out = c.take_stdout();
    auto t0 = clock_type::now();
    auto got = reader(out, c);
    auto ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
    if (!c.status()) c.wait();
    if (got != bytes) {
        std::fprintf(stderr, "tied_bench: read %zu of %zu bytes\n", got, bytes);
        std::exit(1);
    }
    return ms * double(1u << 30) / double(bytes);
}

std::size_t raw_loop(tether::borrowed_handle h, tether::child&) {
    tether::chunk_reader sizing(h);  // the same buffer size as the readers below
    std::vector<char> buf(sizing.buffer_size());
    std::size_t total = 0;
    for (;;) {
        auto n = ::read(h.get(), buf.data(), buf.size());
        if (n <= 0) return total;
        total += static_cast<std::size_t>(n);
    }
}

std::size_t untied_chunks(tether::borrowed_handle h, tether::child&) {
    tether::chunk_reader r(h);
    std::size_t total = 0;
    for (auto c = r.next(); !c.empty(); c = r.next()) total += c.size();
    return total;
}

std::size_t tied_chunks(tether::borrowed_handle h, tether::child& c) {
    tether::tied_chunk_reader r(h, c);
    std::size_t total = 0;
    for (auto chunk = r.next(); !chunk.empty(); chunk = r.next()) total += chunk.size();
    return total;
}

std::size_t untied_string(tether::borrowed_handle h, tether::child&) { return tether::read_to_end(h).size(); }

std::size_t tied_string(tether::borrowed_handle h, tether::child& c) { return tether::read_to_end(h, c).size(); }

void row(const char* name, std::size_t bytes, int rounds,
         const std::vector<std::pair<const char*, std::size_t (*)(tether::borrowed_handle, tether::child&)>>& readers) {
    std::vector<std::vector<double>> ms(readers.size());
    for (int r = 0; r < rounds; ++r)  // alternate, so drift on a shared machine hits all alike
        for (std::size_t k = 0; k < readers.size(); ++k) ms[k].push_back(round_ms_per_gib(bytes, readers[k].second));
    std::printf("%-12s", name);
    double first = median(ms[0]);
    for (std::size_t k = 0; k < readers.size(); ++k) {
        double m = median(ms[k]);
        std::printf("  %s %.0f ms/GiB (%.2fx)", readers[k].first, m, first / m);
    }
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 256;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 8;
    if (mib == 0 || rounds <= 0) {
        std::fprintf(stderr, "usage: tied_bench [MiB per round > 0] [rounds > 0]\n");
        return 2;
    }
    std::size_t bytes = mib << 20;
    std::printf("tied_bench: %zu MiB per round, %d rounds, median; ratio = throughput / the first column's\n", mib, rounds);
    row("chunks", bytes, rounds, {{"raw", raw_loop}, {"chunk_reader", untied_chunks}, {"tied", tied_chunks}});
    row("read_to_end", bytes, rounds, {{"untied", untied_string}, {"tied", tied_string}});
    return 0;
}
