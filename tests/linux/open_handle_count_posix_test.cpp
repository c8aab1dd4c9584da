// Linux: open_handle_count() has no per-object count to report (holders() finds the copies).
#include <tether/tether.hpp>

#include <gtest/gtest.h>

TEST(OpenHandleCount, LinuxHasNone) {
    auto [r, w] = tether::make_pipe();
    EXPECT_EQ(tether::open_handle_count(w), std::nullopt);
    EXPECT_EQ(tether::open_handle_count(tether::borrowed_handle()), std::nullopt);
}
