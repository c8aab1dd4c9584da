// forward() on Linux: splice from a child's pipe into a regular file and a socket, the
// read/write fallback when neither end is a pipe, a non-blocking source, SIGPIPE, and
// forward_options::batch_scheduling (the thread's policy while forward() waits, and after).
#include "support/harness.hpp"
#include "support/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <sched.h>
#include <string>
#include <sys/socket.h>
#include <sys/syscall.h>
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

// A thread that forwards a pipe the test writes into a temporary file, with its scheduling
// policy set to `policy` first. The test looks at the thread from outside, through the kernel,
// while forward() waits for data in splice(), and after forward() returns.
class policy_probe {
public:
    policy_probe(int policy, bool batch) : file_(temp_file()), ends_(tether::make_pipe()) {
        tether::forward_options fopt;
        fopt.batch_scheduling = batch;
        thread_ = std::thread([this, policy, fopt] {
            tid_.store(static_cast<pid_t>(::syscall(SYS_gettid)));
            sched_param none{};
            set_.store(::sched_setscheduler(0, policy, &none) == 0);
            moved_ = tether::forward(ends_.read, file_, fopt, ec_);
            after_ = ::sched_getscheduler(0);
        });
    }
    policy_probe(const policy_probe&) = delete;
    policy_probe& operator=(const policy_probe&) = delete;
    ~policy_probe() { finish(); }

    /// Waits (up to 10 s) until the thread is blocked in splice(), as /proc says: then
    /// forward() has done whatever it does to the policy before it waits.
    bool waiting_in_splice() {
        auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < give_up) {
            pid_t tid = tid_.load();
            if (tid != 0 && current_syscall(tid) == SYS_splice) return true;
            std::this_thread::yield();
        }
        return false;
    }
    /// The policy of the forwarding thread now, from outside it.
    int policy_now() const { return ::sched_getscheduler(tid_.load()); }
    /// Writes `text`, closes the write end (forward's end-of-file) and joins the thread.
    void finish(const std::string& text = {}) {
        if (!thread_.joinable()) return;
        if (!text.empty()) tether::write_all(ends_.write, text);
        ends_.write.reset();
        thread_.join();
    }
    bool policy_was_set() const { return set_.load(); }
    int policy_after() const { return after_; }
    std::uint64_t moved() const { return moved_; }
    std::error_code error() const { return ec_; }
    std::string contents() const { return file_contents(file_.get()); }

private:
    // The number of the system call the thread is blocked in (/proc/PID/task/TID/syscall), or -1.
    static long current_syscall(pid_t tid) {
        std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/syscall");
        long nr = -1;
        f >> nr;
        return f ? nr : -1;
    }

    tether::unique_handle file_;
    tether::pipe_ends ends_;
    std::atomic<pid_t> tid_{0};
    std::atomic<bool> set_{false};  // read while the thread runs
    int after_{-1};
    std::uint64_t moved_{0};
    std::error_code ec_;
    std::thread thread_;
};

}  // namespace

TEST(ForwardPosix, BatchSchedulingHoldsWhileForwardingAndIsUndoneAfter) {
    policy_probe p(SCHED_OTHER, true);
    ASSERT_TRUE(p.waiting_in_splice()) << "the forwarding thread never blocked in splice()";
    EXPECT_EQ(p.policy_now(), SCHED_BATCH);
    p.finish("forwarded while batch");
    EXPECT_TRUE(p.policy_was_set());
    EXPECT_FALSE(p.error()) << p.error().message();
    EXPECT_EQ(p.contents(), "forwarded while batch");
    EXPECT_EQ(p.policy_after(), SCHED_OTHER);
}

TEST(ForwardPosix, WithoutBatchSchedulingThePolicyIsNotTouched) {
    policy_probe p(SCHED_OTHER, false);
    ASSERT_TRUE(p.waiting_in_splice()) << "the forwarding thread never blocked in splice()";
    EXPECT_EQ(p.policy_now(), SCHED_OTHER);
    p.finish("x");
    EXPECT_EQ(p.moved(), 1u);
    EXPECT_EQ(p.policy_after(), SCHED_OTHER);
}

// SCHED_IDLE stands for every policy the caller chose on purpose (the real-time ones need a
// privilege the suite may lack): forward() must neither raise it to SCHED_BATCH nor leave it
// SCHED_OTHER afterwards.
TEST(ForwardPosix, BatchSchedulingLeavesAPolicyTheCallerChoseAlone) {
    policy_probe p(SCHED_IDLE, true);
    ASSERT_TRUE(p.waiting_in_splice()) << "the forwarding thread never blocked in splice()";
    ASSERT_TRUE(p.policy_was_set()) << "sched_setscheduler(SCHED_IDLE) failed";
    EXPECT_EQ(p.policy_now(), SCHED_IDLE);
    p.finish("idle");
    EXPECT_EQ(p.contents(), "idle");
    EXPECT_EQ(p.policy_after(), SCHED_IDLE);
}

TEST(ForwardPosix, BatchSchedulingIsUndoneWhenTheReaderIsGone) {
    auto s = stream(size);
    auto ends = tether::make_pipe();
    ends.read.reset();
    tether::forward_options fopt;
    fopt.batch_scheduling = true;
    std::error_code ec;
    tether::forward(s.out, ends.write, fopt, ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
    s.out.reset();
    s.c.kill();
    s.c.wait();
}

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
