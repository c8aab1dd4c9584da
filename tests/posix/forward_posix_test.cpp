// forward() on Linux: splice from a child's pipe into a regular file and a socket, the
// read/write fallback when neither end is a pipe, a non-blocking source, and SIGPIPE.
#include "harness.hpp"
#include "posix/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using tether_test::role_options;

namespace {

constexpr std::uint64_t size = 3 * 1024 * 1024 + 777;

// The same pattern as tests/forward_test.cpp's fwd_stream role.
bool is_pattern(const std::string& s) {
    for (std::size_t i = 0; i < s.size(); ++i)
        if (s[i] != static_cast<char>(i % 251)) return false;
    return true;
}

tether::unique_handle temp_file() {
    char name[] = "/tmp/tether-forward-XXXXXX";
    int fd = ::mkostemp(name, O_CLOEXEC);
    if (fd >= 0) ::unlink(name);
    return tether::unique_handle(fd);
}

std::string file_contents(int fd) {
    std::string all;
    char buf[65536];
    ssize_t n;
    for (off_t off = 0; (n = ::pread(fd, buf, sizeof buf, off)) > 0; off += n) all.append(buf, static_cast<std::size_t>(n));
    return all;
}

struct streaming_child {
    tether::child c;
    tether::unique_handle out;
};

streaming_child stream(std::uint64_t bytes) {
    auto opt = role_options("fwd_stream", {std::to_string(bytes)});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    return {std::move(c), std::move(out)};
}

}  // namespace

TEST(ForwardPosix, PipeIntoARegularFile) {
    auto s = stream(size);
    auto file = temp_file();
    ASSERT_TRUE(file);
    EXPECT_EQ(tether::forward(s.out, file), size);
    EXPECT_TRUE(s.c.wait().success());
    auto all = file_contents(file.get());
    EXPECT_EQ(all.size(), size);
    EXPECT_TRUE(is_pattern(all));
}

TEST(ForwardPosix, FileIntoFileIsCopiedWhenNeitherIsAPipe) {
    auto s = stream(size);
    auto first = temp_file(), second = temp_file();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(tether::forward(s.out, first), size);
    EXPECT_TRUE(s.c.wait().success());
    ASSERT_EQ(::lseek(first.get(), 0, SEEK_SET), 0);
    EXPECT_EQ(tether::forward(first, second), size);  // splice says EINVAL: the loop copies
    auto all = file_contents(second.get());
    EXPECT_EQ(all.size(), size);
    EXPECT_TRUE(is_pattern(all));
}

TEST(ForwardPosix, PipeIntoASocket) {
    auto s = stream(size);
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    tether::unique_handle ours(sv[0]), theirs(sv[1]);
    std::string got;
    std::thread t([&] { got = tether::read_to_end(theirs); });
    EXPECT_EQ(tether::forward(s.out, ours), size);
    ours.reset();
    t.join();
    EXPECT_EQ(got.size(), size);
    EXPECT_TRUE(is_pattern(got));
    EXPECT_TRUE(s.c.wait().success());
}

TEST(ForwardPosix, ANonBlockingSourceIsWaitedForNotSpunOn) {
    auto s = stream(size);
    ASSERT_TRUE(tether_test::make_nonblocking(s.out));
    auto ends = tether::make_pipe();
    auto& r = ends.read;
    auto& w = ends.write;
    ASSERT_TRUE(tether_test::make_nonblocking(w));
    std::string got;
    std::thread t([&] { got = tether::read_to_end(r); });
    EXPECT_EQ(tether::forward(s.out, w), size);
    w.reset();
    t.join();
    EXPECT_EQ(got.size(), size);
    EXPECT_TRUE(is_pattern(got));
    EXPECT_TRUE(s.c.wait().success());
}

TEST(ForwardPosix, PeerGoneLeavesNoSigpipeAndTheMaskUnchanged) {
    sigset_t before, pending;
    ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
    auto s = stream(size);
    auto ends = tether::make_pipe();
    auto& r = ends.read;
    auto& w = ends.write;
    r.reset();
    std::error_code ec;
    tether::forward(s.out, w, ec);
    EXPECT_EQ(ec, tether::errc::peer_gone);
    sigset_t after;
    ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
    EXPECT_EQ(sigismember(&after, SIGPIPE), sigismember(&before, SIGPIPE));
    ASSERT_EQ(sigpending(&pending), 0);
    EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
    s.out.reset();
    s.c.kill();
    s.c.wait();
}
