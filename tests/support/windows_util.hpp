// Test support shared by the Windows test files (tests/windows/): handles, channel frames and
// pipe reads their checks repeat.
#pragma once

#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <windows.h>

namespace tether_test {

/// An inheritable duplicate of `h` (tether never makes one: a test needs it to model a leak).
inline tether::unique_handle inheritable_copy(tether::borrowed_handle h) {
    HANDLE copy = nullptr;
    if (!::DuplicateHandle(::GetCurrentProcess(), h.get(), ::GetCurrentProcess(), &copy, 0, TRUE,
                           DUPLICATE_SAME_ACCESS))
        throw std::runtime_error("DuplicateHandle");
    return tether::unique_handle(copy);
}

/// A data frame (src/detail/frame.hpp) with these handle values and no payload.
inline std::vector<std::byte> frame_with_handles(const std::vector<std::uint64_t>& values) {
    std::vector<std::byte> f(12);
    f[0] = f[1] = std::byte{0x54};
    f[2] = std::byte{1};                            // version
    f[3] = std::byte{1};                            // data
    f[6] = static_cast<std::byte>(values.size());  // the handle count; empty payload
    for (auto value : values)
        for (std::size_t i = 0; i < 8; ++i) f.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xff));
    return f;
}

inline std::vector<std::byte> frame_with_handle(std::uint64_t value) { return frame_with_handles({value}); }

/// Everything up to end-of-file, or what came plus "<no end-of-file>" after 10 s: a copy of the
/// write end left somewhere keeps the pipe open, and that must fail the test, not hang it.
inline std::string read_until_eof(tether::borrowed_handle h) {
    using namespace std::chrono_literals;
    std::string s;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
        char buf[256];
        std::error_code ec;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        auto n = tether::read_for(h, std::as_writable_bytes(std::span(buf)), std::max(left, 0ms), ec);
        if (ec) return s + "<no end-of-file: " + ec.message() + ">";
        if (n == 0) return s;
        s.append(buf, n);
    }
}

}  // namespace tether_test
