// libFuzzer target: the channel's frame decoder, which reads bytes from a peer process that may
// be broken or hostile. The input is split into chunks (sizes taken from the input itself) so
// every buffering path is exercised: frames across reads, payloads read in place, compaction.
// Invariants checked: no crash, no read beyond the buffer (ASan), no frame above the limits,
// an error is sticky, and allocation stays bounded (libFuzzer's -rss_limit_mb catches a leak or
// an unbounded allocation).
#include "detail/frame.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using tether::detail::frame_reader;
    if (size < 1) return 0;
    // First byte: chunk size for the "reads" (1..256), so small and large splits both occur.
    std::size_t chunk = static_cast<std::size_t>(data[0]) + 1;
    ++data;
    --size;
    const tether::detail::frame_limits limits{64 * 1024, 64};
    frame_reader reader(limits, 4096);
    std::size_t at = 0;
    for (;;) {
        tether::detail::frame f;
        std::error_code ec;
        auto st = reader.next(f, ec);
        if (st == frame_reader::status::frame) {
            if (f.payload.size() > limits.max_payload || f.wire_handles.size() > limits.max_handles) std::abort();
            continue;
        }
        if (st == frame_reader::status::error) {
            if (!ec || reader.next(f, ec) != frame_reader::status::error) std::abort();  // sticky
            if (!reader.space().empty()) std::abort();
            return 0;
        }
        if (at == size) {
            (void)reader.at_eof();
            return 0;
        }
        auto space = reader.space();
        if (space.empty()) std::abort();  // need_more must always leave room to read into
        std::size_t n = std::min({chunk, space.size(), size - at});
        std::memcpy(space.data(), data + at, n);
        reader.commit(n);
        at += n;
    }
}
