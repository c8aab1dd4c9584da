// The manifest parser on a large TETHER_HANDLES (a 1 MiB manifest once took 10-14 s) against a
// raw linear pass over the same text in the same run (counting the items with memchr, which
// any parser must at least do). Prints the medians and the ratio; a linear parser keeps the
// ratio flat as the size grows, so both 64 KiB and 1 MiB are shown.
//
// usage: manifest_bench [rounds]   (default 5)
#include "detail/manifest.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double millis(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::string manifest_of(std::size_t bytes) {
    std::string text;
    for (int i = 0; text.size() < bytes; ++i)
        text += (text.empty() ? "" : ",") + ("handle" + std::to_string(i)) + ":" + std::to_string(3 + i % 1000) +
                "@fd01.2a3b";
    return text;
}

std::size_t raw_items(const std::string& text) {
    std::size_t n = 1;
    for (const char* p = text.data(); (p = static_cast<const char*>(std::memchr(p, ',', text.data() + text.size() - p))) != nullptr; ++p)
        ++n;
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
    for (std::size_t bytes : {std::size_t{64} << 10, std::size_t{1} << 20}) {
        std::string text = manifest_of(bytes);
        std::vector<double> raw, parse;
        std::size_t items = 0, parsed = 0;
        for (int i = 0; i < rounds; ++i) {
            auto t0 = clock_type::now();
            items = raw_items(text);
            raw.push_back(millis(clock_type::now() - t0));
            std::vector<tether::detail::manifest_entry> out;
            t0 = clock_type::now();
            if (tether::detail::parse_manifest(text, out)) {
                std::fprintf(stderr, "manifest_bench: the manifest did not parse\n");
                return 1;
            }
            parse.push_back(millis(clock_type::now() - t0));
            parsed = out.size();
        }
        std::printf("manifest of %zu KiB, %zu entries (parsed %zu): raw pass %.3f ms, parse_manifest %.3f ms, ratio %.1f\n",
                    text.size() >> 10, items, parsed, median(raw), median(parse), median(parse) / median(raw));
    }
    return 0;
}
