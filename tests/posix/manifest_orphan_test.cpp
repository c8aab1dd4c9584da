// The manifest stays valid for a child whose parent exits before it calls inherited():
// the check uses the parent recorded at program start, not the parent of the moment.
#include "harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

using namespace std::chrono_literals;

// Waits until its parent has exited (the kernel signals a pidfd after re-parenting), then
// takes "out" and reports its parent before and after.
TETHER_CHILD_ROLE(orphan_then_inherit) {
    pid_t before = ::getppid();
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, before, 0));
    if (pidfd < 0) return 3;
    pollfd p{pidfd, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return 4;  // bounded: the parent exits right after spawning us
    ::close(pidfd);
    pid_t after = ::getppid();
    std::error_code ec;
    auto out = tether::inherited("out", ec);
    if (ec) return 5;
    tether::write_all(out, "parent " + std::to_string(before) + (after != before ? " gone" : " same"));
    return 0;
}

// Passes its "out" on to an orphan_then_inherit child and exits at once.
TETHER_CHILD_ROLE(spawn_orphan_and_exit) {
    auto opt = tether_test::role_options("orphan_then_inherit");
    opt.pass(tether::inherited("out"), "out");
    auto c = tether::spawn(std::move(opt));
    c.detach();
    return 0;
}

TEST(Manifest, ChildWhoseParentExitedStillTakesItsHandles) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("spawn_orphan_and_exit");
    opt.pass(std::move(theirs), "out");
    auto middle = tether::spawn(std::move(opt));
    EXPECT_TRUE(middle.wait().success());
    std::error_code ec;
    auto text = tether::read_to_end_for(ours, 20s, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(text, "parent " + std::to_string(middle.pid()) + " gone");
}
