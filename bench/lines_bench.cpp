// Lines: tether's line_splitter and line_reader against a hand-written memchr loop over the
// same reads, in the same run. Two rows:
//   split  - 64 KiB chunks already in memory (the splitter's own cost, no I/O);
//   reader - line_reader on a pipe that a thread fills, against read() + the memchr loop.
// Each: the median time per GiB of 8 rounds and the ratio of throughputs (tether / raw, higher is
// better; the target is >= 0.90). Lines of 1 to 120 bytes, some ending in "\r\n".
//
// usage: lines_bench [MiB per round]   (default 256)
#include <tether/lines.hpp>
#include <tether/pipe.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t chunk = 64 * 1024;

struct tally {
    std::size_t lines{0}, bytes{0};
    void operator()(std::string_view l) {
        ++lines;
        bytes += l.size();
    }
};

std::string make_text(std::size_t size) {
    std::string t;
    t.reserve(size + 128);
    unsigned x = 12345;
    while (t.size() < size) {
        x = x * 1103515245u + 12345u;
        t.append(1 + (x >> 16) % 120, 'a' + static_cast<char>(x % 26));
        t += (x & 0x100) != 0 ? "\r\n" : "\n";
    }
    return t;
}

// What a careful hand-written loop does: memchr per line, a carry string for the line a chunk
// cuts, "\r" trimmed; no bound on the line.
struct raw_lines {
    std::string carry;
    tally t;
    void feed(const char* p, std::size_t n) {
        const char* end = p + n;
        while (p < end) {
            auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (nl == nullptr) {
                carry.append(p, end);
                return;
            }
            std::string_view line(p, static_cast<std::size_t>(nl - p));
            if (!carry.empty()) {
                carry.append(line);
                line = carry;
            }
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            t(line);
            carry.clear();
            p = nl + 1;
        }
    }
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

template <class F>
double ms_per_gib(std::size_t bytes, F&& f) {
    auto t0 = clock_type::now();
    f();
    double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
    return ms * double(1u << 30) / double(bytes);
}

void writer(tether::unique_handle w, const std::string* text) {
    tether::write_all(w, std::as_bytes(std::span(text->data(), text->size())));
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 256;
    std::string text = make_text(mib << 20);
    std::vector<double> raw_split, split, raw_read, reader;
    std::size_t want = 0;
    for (int round = 0; round < 8; ++round) {
        raw_lines raw;
        raw_split.push_back(ms_per_gib(text.size(), [&] {
            for (std::size_t at = 0; at < text.size(); at += chunk) raw.feed(text.data() + at, std::min(chunk, text.size() - at));
        }));
        tether::line_splitter s;
        tally t;
        split.push_back(ms_per_gib(text.size(), [&] {
            for (std::size_t at = 0; at < text.size(); at += chunk) (void)s.feed(std::string_view(text).substr(at, chunk), t);
            s.finish(t);
        }));
        want = raw.t.lines + (raw.carry.empty() ? 0 : 1);
        if (t.lines != want) {
            std::fprintf(stderr, "lines_bench: the splitter counted %zu lines, the raw loop %zu\n", t.lines, want);
            return 1;
        }
        {
            auto ends = tether::make_pipe();  // no structured binding: clang 14 cannot capture one
            auto& r = ends.read;
            std::thread fill(writer, std::move(ends.write), &text);
            raw_lines rl;
            std::vector<char> buf(chunk);
            raw_read.push_back(ms_per_gib(text.size(), [&] {
                while (auto n = tether::read(r, std::as_writable_bytes(std::span(buf)))) rl.feed(buf.data(), n);
            }));
            fill.join();
        }
        {
            auto ends = tether::make_pipe();
            auto& r = ends.read;
            std::thread fill(writer, std::move(ends.write), &text);
            tally rt;
            reader.push_back(ms_per_gib(text.size(), [&] {
                tether::line_reader lines(r);
                while (auto l = lines.next()) rt(*l);
            }));
            fill.join();
            if (rt.lines != want) {
                std::fprintf(stderr, "lines_bench: line_reader counted %zu lines, the raw loop %zu\n", rt.lines, want);
                return 1;
            }
        }
    }
    std::printf("lines_bench: %zu MiB, %zu lines, median ms per GiB of 8 rounds\n", mib, want);
    std::printf("| row | raw memchr loop | tether | throughput ratio (target >= 0.90) |\n|---|---|---|---|\n");
    std::printf("| split (in memory) | %.1f | %.1f | %.2f |\n", median(raw_split), median(split), median(raw_split) / median(split));
    std::printf("| reader (pipe) | %.1f | %.1f | %.2f |\n", median(raw_read), median(reader), median(raw_read) / median(reader));
    return 0;
}
