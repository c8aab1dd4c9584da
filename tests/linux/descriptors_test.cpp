// Linux: descriptors. Everything tether creates is close-on-exec; pipe_client validation against
// real kernel objects; the buffer size; which descriptors a child really holds (asked from inside
// the child via /proc/self/fd), on the primary path and on the forced fallback.
#include "support/harness.hpp"
#include "linux/exec_child.hpp"
#include "testing/test_hooks.hpp"
#include "support/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <iostream>
#include <sys/socket.h>
#include <thread>

using namespace std::chrono_literals;

namespace {

bool cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

// The child's /proc/self/fd listing, from the list_fds role.
std::string child_fds(tether::spawn_options opt) {
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto text = tether::take_stdout_text(c);
    EXPECT_TRUE(c.wait().success()) << text;
    return text;
}

// Opens `n` descriptors WITHOUT O_CLOEXEC, as careless code elsewhere in a process would.
std::vector<tether::unique_handle> open_strays(int n) {
    std::vector<tether::unique_handle> strays;
    for (int i = 0; i < n; ++i) strays.emplace_back(::open("/dev/null", O_RDONLY));
    return strays;
}

using close_way = tether::detail::close_way;
constexpr close_way every_close_way[] = {close_way::cloexec_range, close_way::close_range, close_way::listing};

struct fallback_forced {
    explicit fallback_forced(close_way way) { tether::detail::test_hooks::force_close_way(way); }
    ~fallback_forced() { tether::detail::test_hooks::force_close_way(close_way::cloexec_range); }
    fallback_forced(const fallback_forced&) = delete;
    fallback_forced& operator=(const fallback_forced&) = delete;
};

}  // namespace

TETHER_CHILD_ROLE(list_fds) {
    std::cout << tether_test::join(tether_test::open_fds()) << std::flush;
    return 0;
}

// ---- non-inheritable from birth

TEST(PosixCloexec, PipesDuplicatesServerEnds) {
    auto [r, w] = tether::make_pipe();
    EXPECT_TRUE(cloexec(r.get()));
    EXPECT_TRUE(cloexec(w.get()));
    auto d = r.duplicate();
    EXPECT_TRUE(cloexec(d.get()));
    tether::pipe_server s(tether::direction::out);
    EXPECT_TRUE(cloexec(s.handle().get()));
    EXPECT_TRUE(cloexec(s.client_handle().get()));
}

TEST(PosixCloexec, ChildStdioPipesAndPidfd) {
    auto opt = tether_test::role_options("echo_stdin");
    opt.in = tether::stdio::pipe();
    opt.out = tether::stdio::pipe();
    opt.err = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    if (c.process_handle())  // no pidfd under valgrind (no pidfd_open) or before Linux 5.3
        EXPECT_TRUE(cloexec(c.process_handle().get()));
    else
        std::cout << "[ note     ] no pidfd for the child; its close-on-exec flag is not checked\n";
    auto in = c.take_stdin(), out = c.take_stdout(), err = c.take_stderr();
    EXPECT_TRUE(cloexec(in.get()));
    EXPECT_TRUE(cloexec(out.get()));
    EXPECT_TRUE(cloexec(err.get()));
    in.reset();
    EXPECT_EQ(tether::read_to_end(out), "got:");
    EXPECT_TRUE(c.wait().success());
    EXPECT_FALSE(c.process_handle()) << "the pidfd is closed once the child is reaped";
}

TEST(PosixCloexec, SpawnLeavesNoDescriptorBehind) {
    // /dev/null, the working directory, relocated copies and the child's pipe ends are all
    // temporary: after the child is reaped the parent holds exactly what it held before.
    auto before = tether_test::open_fds();
    {
        auto opt = tether_test::role_options("echo_stdin");
        opt.in = tether::stdio::null();
        opt.out = tether::stdio::pipe();
        opt.err = tether::stdio::null();
        opt.cwd = "/";
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        opt.pass_at(3, std::move(theirs), "x");
        auto c = tether::spawn(std::move(opt));
        EXPECT_EQ(tether::take_stdout_text(c), "got:");
        EXPECT_TRUE(c.wait().success());
    }
    EXPECT_EQ(tether_test::join(tether_test::open_fds()), tether_test::join(before));
}

// ---- pipe_client against real kernel objects

namespace {

void expect_not_a_pipe(int fd, const std::string& kind) {
    auto text = std::to_string(fd);
    try {
        tether::pipe_client c(tether::direction::in, text);
        ADD_FAILURE() << "accepted " << kind;
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::not_a_pipe) << e.what();
        EXPECT_NE(std::string(e.what()).find("'" + text + "'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(kind), std::string::npos) << e.what();
    }
    EXPECT_FALSE(tether_test::fd_closed(fd)) << "a rejected descriptor is not taken over";
}

}  // namespace

TEST(PosixPipeClient, RejectsDescriptorsThatAreNotPipes) {
    tether_test::temp_dir dir;
    auto file = dir.file("regular", "x", 0600);
    tether::unique_handle reg(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    expect_not_a_pipe(reg.get(), "a regular file");
    tether::unique_handle null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    expect_not_a_pipe(null.get(), "a character device");
    tether::unique_handle dirfd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    expect_not_a_pipe(dirfd.get(), "a directory");
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    tether::unique_handle s0(sv[0]), s1(sv[1]);
    expect_not_a_pipe(s0.get(), "a socket");
}

TEST(PosixPipeClient, AdoptsAnInheritableDescriptorAsCloseOnExec) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);  // as a child inherits it: no FD_CLOEXEC
    tether::unique_handle w(fds[1]);
    tether::pipe_client c(tether::direction::in, std::to_string(fds[0]));
    EXPECT_TRUE(cloexec(fds[0])) << "our own children must not inherit what we were given";
}

TEST(PosixPipeServer, BufferSizeIsApplied) {
    tether::pipe_server dflt(tether::direction::in);
    int default_size = ::fcntl(dflt.handle().get(), F_GETPIPE_SZ);
    EXPECT_GT(default_size, 0);
    tether::pipe_server big(tether::direction::in, 200000);
    EXPECT_GE(::fcntl(big.handle().get(), F_GETPIPE_SZ), 200000);
    EXPECT_GE(::fcntl(big.client_handle().get(), F_GETPIPE_SZ), 200000) << "one pipe, one size";
    tether::pipe_server small(tether::direction::out, 1);
    EXPECT_GE(::fcntl(small.handle().get(), F_GETPIPE_SZ), 1) << "rounded up to a page";
    EXPECT_LE(::fcntl(small.handle().get(), F_GETPIPE_SZ), default_size);
}

TEST(PosixPipeServer, AnImpossibleBufferSizeIsAdvisoryOnly) {
    for (std::size_t size : {std::size_t(INT_MAX) + 1, SIZE_MAX}) {
        tether::pipe_server s(tether::direction::out, size);
        s.write(std::string_view("still works"));
        std::byte buf[32];
        EXPECT_EQ(tether::read(s.client_handle(), buf), 11u);
    }
}

// ---- what the child holds

TEST(PosixChildDescriptors, OnlyStdioByDefault) {
    EXPECT_EQ(child_fds(tether_test::role_options("list_fds")), "0,1,2");
}

TEST(PosixChildDescriptors, NullStdioAndAWorkingDirectoryLeaveNothingExtra) {
    // /dev/null and the directory are opened by spawn in the parent: never in the child.
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("list_fds");
    opt.in = tether::stdio::null();
    opt.err = tether::stdio::null();
    opt.cwd = "/";
    opt.pass(std::move(theirs), "x");
    EXPECT_EQ(child_fds(std::move(opt)), "0,1,2,3");
}

namespace {

void expect_exact_listing_with_strays() {
    auto strays = open_strays(1000);
    ASSERT_FALSE(cloexec(strays.back().get()));
    auto a = tether::make_pipe(tether::direction::in);
    auto b = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("list_fds");
    opt.pass(std::move(a.theirs), "a").pass(std::move(b.theirs), "b");
    EXPECT_EQ(child_fds(std::move(opt)), "0,1,2,3,4");
    auto gaps = tether::make_pipe(tether::direction::in);
    auto opt2 = tether_test::role_options("list_fds");
    opt2.pass_at(9, std::move(gaps.theirs), "far");  // 3..8 hold strays in the parent
    EXPECT_EQ(child_fds(std::move(opt2)), "0,1,2,9");
}

}  // namespace

TEST(PosixChildDescriptors, ExactlyTheNamedOnesDespiteStraysPrimaryPath) {
    expect_exact_listing_with_strays();
}

TEST(PosixChildDescriptors, ExactlyTheNamedOnesDespiteStraysPlainCloseRange) {
    fallback_forced on(close_way::close_range);  // Linux 5.9 and 5.10: no CLOSE_RANGE_CLOEXEC
    expect_exact_listing_with_strays();
}

TEST(PosixChildDescriptors, ExactlyTheNamedOnesDespiteStraysFallback) {
    fallback_forced on(close_way::listing);
    expect_exact_listing_with_strays();
}

TEST(PosixChildDescriptors, FallbackLeavesNoDescriptorInTheParent) {
    fallback_forced on(close_way::listing);
    auto before = tether_test::open_fds();
    EXPECT_EQ(child_fds(tether_test::role_options("list_fds")), "0,1,2");
    EXPECT_EQ(tether_test::join(tether_test::open_fds()), tether_test::join(before));
}

TEST(PosixChildDescriptors, StraysOpenedByAnotherThreadMeanwhileNeverReachTheChild) {
    // Another thread keeps opening descriptors without O_CLOEXEC while we spawn. The child closes
    // from its own copy of the descriptor table (taken at clone), so none can slip through, on
    // any path.
    std::atomic<bool> stop{false};
    std::thread churn([&] {
        while (!stop.load()) {
            int fds[8];
            for (int& fd : fds) fd = ::open("/dev/null", O_RDONLY);
            for (int fd : fds) ::close(fd);
        }
    });
    int leaks = 0;
    std::string first;
    for (close_way way : every_close_way) {
        fallback_forced mode(way);
        for (int i = 0; i < 100; ++i) {
            auto text = child_fds(tether_test::role_options("list_fds"));
            if (text != "0,1,2" && leaks++ == 0) first = text;
        }
    }
    stop = true;
    churn.join();
    EXPECT_EQ(leaks, 0) << "first leak: " << first;
}
