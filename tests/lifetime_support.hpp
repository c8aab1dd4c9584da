// Test support for process lifetimes (tests/lifetime_test.cpp and tests/posix/lifetime_posix_test.cpp):
// roles that build small process trees, and a per-platform "has this process ended?" poll.
#pragma once

#include <tether/tether.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tether_test {

/// Polls (a short pause between looks, bounded by `limit`) until process `pid`, not necessarily
/// our child, has ended: gone, or a zombie (POSIX; its parent may not reap it soon).
/// @returns true if it ended within `limit`.
bool ended_within(std::int64_t pid, std::chrono::milliseconds limit);

/// True if process `pid` exists and has not ended (POSIX: not a zombie).
bool running_now(std::int64_t pid);

/// Reads one line ("\n" not included) from `h`, waiting at most `limit` in all.
std::string read_line_for(tether::borrowed_handle h, std::chrono::milliseconds limit);

/// Parses "a b c" into numbers.
std::vector<std::int64_t> numbers(const std::string& line);

}  // namespace tether_test
