// Windows only: open_handle_count() is the kernel's handle count of one object (one pipe end):
// it rises with every duplicate, in this process or in a child, and falls with every close.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

using namespace std::chrono_literals;

TEST(OpenHandleCount, DuplicateRaisesAndResetLowers) {
    auto [r, w] = tether::make_pipe();
    ASSERT_EQ(tether::open_handle_count(w), std::size_t{1});
    ASSERT_EQ(tether::open_handle_count(r), std::size_t{1}) << "the two ends are two objects";
    auto w2 = w.duplicate();
    EXPECT_EQ(tether::open_handle_count(w), std::size_t{2});
    EXPECT_EQ(tether::open_handle_count(w2), std::size_t{2});
    EXPECT_EQ(tether::open_handle_count(r), std::size_t{1}) << "a write end copy is not a read end copy";
    w2.reset();
    EXPECT_EQ(tether::open_handle_count(w), std::size_t{1});
}

TETHER_CHILD_ROLE(hold_until_released) {
    auto held = tether::inherited("held");
    auto release = tether::inherited("release");
    std::error_code ec;
    (void)tether::read_to_end_for(release, 60s, ec);  // the parent's end-of-file is the release
    return held ? 0 : 1;
}

TEST(OpenHandleCount, CountsTheCopyInAChild) {
    auto [r, w] = tether::make_pipe();
    auto [release_r, release_w] = tether::make_pipe();
    auto opt = tether_test::role_options("hold_until_released");
    opt.pass(w.duplicate(), "held").pass(std::move(release_r), "release");
    auto c = tether::spawn(std::move(opt));
    // spawn() closed our duplicate (and the handle vault's copy) before it returned.
    EXPECT_EQ(tether::open_handle_count(w), std::size_t{2}) << "ours and the child's";
    release_w.reset();
    EXPECT_TRUE(c.wait().success());
    EXPECT_EQ(tether::open_handle_count(w), std::size_t{1}) << "the child's copy went with it";
}

TEST(OpenHandleCount, NoHandleNoCount) {
    EXPECT_EQ(tether::open_handle_count(tether::borrowed_handle()), std::nullopt);
    auto [r, w] = tether::make_pipe();
    auto value = w.get();
    w.reset();
    EXPECT_EQ(tether::open_handle_count(tether::borrowed_handle(value)), std::nullopt)
        << "a closed handle has no count";
}
