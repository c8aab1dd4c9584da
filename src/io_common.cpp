// Portable conveniences over the backend's read/write.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include <chrono>

namespace tether {

void write_all(borrowed_handle h, std::string_view text) {
    write_all(h, std::as_bytes(std::span(text.data(), text.size())));
}

std::string read_to_end(borrowed_handle h) {
    std::string out;
    std::byte buf[16384];
    for (;;) {
        auto n = read(h, buf);
        if (n == 0) return out;
        out.append(reinterpret_cast<const char*>(buf), n);  // NOLINT: bytes to chars
    }
}

std::string read_to_end_for(borrowed_handle h, milliseconds timeout, std::error_code& ec) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    std::byte buf[16384];
    for (;;) {
        auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
        auto n = read_for(h, buf, left.count() < 0 ? milliseconds(0) : left, ec);
        if (ec || n == 0) return out;
        out.append(reinterpret_cast<const char*>(buf), n);  // NOLINT: bytes to chars
    }
}

}  // namespace tether
