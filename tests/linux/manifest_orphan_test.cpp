// The manifest stays valid for a child whose parent exits before it calls inherited():
// the check uses the parent recorded at program start, not the parent of the moment.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

using namespace std::chrono_literals;

// Waits until its parent has exited (the kernel signals a pidfd after re-parenting), then
// takes "out" and reports its parent before and after.
TETHER_CHILD_ROLE(orphan_then_inherit) {
    // The manifest's writer, not getppid(): by now the writer may already be gone.
    const char* writer_text = ::getenv(tether::manifest_parent_variable);
    if (writer_text == nullptr) return 2;
    pid_t writer = static_cast<pid_t>(std::stol(writer_text));
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, writer, 0));
    if (pidfd >= 0) {  // else ESRCH: already exited and reaped
        pollfd p{pidfd, POLLIN, 0};
        if (::poll(&p, 1, 20000) != 1) return 4;  // bounded: the writer exits right after spawning us
        ::close(pidfd);
    }
    std::error_code ec;
    auto out = tether::inherited("out", ec);
    if (ec) return 5;
    tether::write_all(out, "parent " + std::to_string(writer) + (::getppid() != writer ? " gone" : " same"));
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

// The number in the manifest now names another object: refused, even from our own parent.
TETHER_CHILD_ROLE(reuse_number_then_inherit) {
    std::error_code ec;
    ::close(3);
    int fd = ::open("/dev/null", O_RDONLY);  // takes the lowest free number: 3
    if (fd != 3) return 2;
    auto h = tether::inherited("x", ec);
    return ec == tether::errc::no_manifest && !h ? 0 : 1;
}

TEST(Manifest, ANumberReusedForAnotherObjectIsRefused) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("reuse_number_then_inherit");
    opt.pass(std::move(theirs), "x");
    auto c = tether::spawn(std::move(opt));
    EXPECT_EQ(c.wait().describe(), "exited with code 0");
}
