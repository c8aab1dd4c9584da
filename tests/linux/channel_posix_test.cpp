// Linux-only channel behaviour: exact exit descriptions for signals, SCM_RIGHTS handle passing
// both ways with descriptor counts in both processes, a raw peer sending descriptors nobody
// announced, and ownership when the peer is gone.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;

using tether_test::spawn_with_channel;

namespace {

// Open descriptors of this process, asked of the kernel (the directory's own fd included,
// which is the same in every count).
int count_fds() {
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return -1;
    int n = 0;
    while (const dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

// The highest open descriptor number.
int highest_fd() {
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return -1;
    int high = -1;
    while (const dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') high = std::max(high, std::atoi(e->d_name));
    ::closedir(d);
    return high;
}

// An open, unlinked temporary file holding `text`, close-on-exec.
tether::unique_handle temp_file_with(std::string_view text) {
    tether::unique_handle f(::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!f) throw std::system_error(errno, std::system_category(), "open O_TMPFILE");
    tether::write_all(f, text);
    return f;
}

std::string pread_all(const tether::unique_handle& f) {
    char buf[256];
    ssize_t n = ::pread(f.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

TETHER_CHILD_ROLE(ch_posix_wait_then) {
    auto ctl = tether::channel::inherited("control");
    ctl.send("ready");
    (void)ctl.receive();  // the parent's "go"
    if (args.at(0) == "segv") {
        std::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn the crash into exit(1)
        std::raise(SIGSEGV);
    }
    if (args.at(0) == "abort") std::abort();
    return 0;
}

// Receives a file and a pipe write end, proves it can use both, gives a new pipe read end back,
// and reports its descriptor count before and after (all received ones closed again).
TETHER_CHILD_ROLE(ch_fd_worker) {
    auto ctl = tether::channel::inherited("control");
    ctl.send("fds " + std::to_string(count_fds()));
    {
        auto m = ctl.receive();
        if (m.handles.size() != 2 || m.text() != "take") return 10;
        for (const auto& h : m.handles)
            if (tether::is_inheritable(h)) return 11;  // MSG_CMSG_CLOEXEC
        auto file_text = pread_all(m.handles[0]);
        tether::write_all(m.handles[1], "pipe got: " + file_text);
        auto [r, w] = tether::make_pipe();
        ctl.send_handle(std::move(r));
        if (r) return 12;  // consumed
        tether::write_all(w, "from the child");
    }  // the message (file, pipe end) and our write end are closed here
    ctl.send("fds " + std::to_string(count_fds()));
    auto bye = ctl.receive();
    return bye.is_goodbye() ? 0 : 13;
}

// Lowers RLIMIT_NOFILE so that a message with many descriptors cannot be received whole: the
// kernel installs what fits and reports MSG_CTRUNC. The channel must close those and fail.
TETHER_CHILD_ROLE(ch_ctrunc) {
    auto ctl = tether::channel::inherited("control");
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 20;
    rl.rlim_cur = static_cast<rlim_t>(highest_fd() + 2);  // room for a few, never for 60
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return 21;
    const int before = count_fds();
    ctl.send("ready");
    std::error_code ec;
    auto m = ctl.receive(ec);
    if (ec != tether::errc::protocol_error) return 10;
    if (ctl.is_open() || !m.handles.empty()) return 11;
    if (count_fds() != before - 1) return 12;  // only the channel is gone; nothing received kept
    return 0;
}

TEST(ChannelPosix, TruncatedDescriptorListIsAProtocolErrorAndLeaksNothing) {
    auto [ours, theirs] = tether::make_channel();
    auto child = spawn_with_channel("ch_ctrunc", std::move(theirs));
    ASSERT_EQ(ours.receive().text(), "ready");
    auto [r, w] = tether::make_pipe();
    std::vector<tether::unique_handle> many;
    for (int i = 0; i < 60; ++i) many.push_back(w.duplicate());
    w.reset();
    ours.send_with_handles({}, std::move(many));
    auto st = child.wait();
    EXPECT_TRUE(st.success()) << st.describe() << " (10: no protocol error, 11: still open, 12: fd count)";
    // Every copy of the write end is closed: the installed ones by the channel, the rest by
    // the kernel.
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(r, 10s, ec), "");
    EXPECT_FALSE(ec) << ec.message();
}

TEST(ChannelPosix, CrashesAreDescribedBySignal) {
    struct crash_case {
        const char* how;
        const char* expected;
    };
    for (auto c : {crash_case{"segv", "vanished: killed by signal 11 (SIGSEGV)"},
                   crash_case{"abort", "vanished: killed by signal 6 (SIGABRT)"}}) {
        auto [ours, theirs] = tether::make_channel();
        auto child = spawn_with_channel("ch_posix_wait_then", std::move(theirs), {c.how});
        ASSERT_EQ(ours.receive().text(), "ready");
        ours.send("go");
        auto m = ours.receive(child);
        ASSERT_TRUE(m.is_vanished()) << m.describe();
        // "(core dumped)" may follow, depending on the core limit.
        EXPECT_TRUE(m.describe().starts_with(c.expected)) << m.describe();
    }
}

TEST(ChannelPosix, KilledPeerSaysSigkill) {
    auto [ours, theirs] = tether::make_channel();
    auto child = spawn_with_channel("ch_posix_wait_then", std::move(theirs), {"none"});
    ASSERT_EQ(ours.receive().text(), "ready");
    child.kill();
    EXPECT_EQ(ours.receive(child).describe(), "vanished: killed by signal 9 (SIGKILL)");
}

TEST(ChannelPosix, PeerThatClosedButRunsIsVanishedStillRunning) {
    auto [ours, theirs] = tether::make_channel();
    auto child = spawn_with_channel("ch_posix_wait_then", std::move(theirs), {"none"});
    ASSERT_EQ(ours.receive().text(), "ready");
    // Simulate "dropped its end": we cannot reach into the child, so use a second channel
    // whose peer end we drop ourselves while the child still runs.
    auto [other, other_theirs] = tether::make_channel();
    other_theirs.reset();
    auto m = other.receive(child, 50ms);
    EXPECT_TRUE(m.is_vanished());
    EXPECT_TRUE(m.peer_running);
    EXPECT_EQ(m.describe(), "vanished: peer process still running (it dropped its end without goodbye)");
    ours.send("go");
    EXPECT_TRUE(child.wait().success());
}

TEST(ChannelPosix, HandlesPassBothWaysWithExactOwnership) {
    const int before = count_fds();
    {
        auto [ours, theirs] = tether::make_channel();
        auto child = spawn_with_channel("ch_fd_worker", std::move(theirs));
        const int with_channel = count_fds();  // our channel end (+ the pidfd)
        std::string child_before(ours.receive().text());
        ASSERT_TRUE(child_before.starts_with("fds "));

        auto [from_pipe, to_pipe] = tether::make_pipe();
        std::vector<tether::unique_handle> give;
        give.push_back(temp_file_with("file contents"));
        give.push_back(std::move(to_pipe));
        EXPECT_EQ(count_fds(), with_channel + 3);
        ours.send_with_handles(std::as_bytes(std::span("take", 4)), std::move(give));
        EXPECT_EQ(count_fds(), with_channel + 1) << "our copies of both passed handles are closed once sent";

        // End-of-file proves the child closed its copy of the write end and we hold none.
        std::error_code ec;
        EXPECT_EQ(tether::read_to_end_for(from_pipe, 10s, ec), "pipe got: file contents");
        EXPECT_FALSE(ec) << ec.message();

        auto back = ours.receive();
        ASSERT_EQ(back.handles.size(), 1u) << back.describe();
        EXPECT_FALSE(tether::is_inheritable(back.handles[0]));
        EXPECT_EQ(tether::read_to_end_for(back.handles[0], 10s, ec), "from the child");
        EXPECT_FALSE(ec) << ec.message();

        std::string child_after(ours.receive().text());
        EXPECT_EQ(child_after, child_before) << "the child holds exactly what it held before";
        ours.close();
        EXPECT_TRUE(child.wait().success());
    }
    EXPECT_EQ(count_fds(), before) << "nothing leaked in the parent";
}

TEST(ChannelPosix, HandleSentToAPeerThatIsGoneIsNotLeaked) {
    const int before = count_fds();
    {
        auto [ours, theirs] = tether::make_channel();
        auto child = spawn_with_channel("exit_with", std::move(theirs), {"0"});
        EXPECT_TRUE(child.wait().success());
        auto [r, w] = tether::make_pipe();
        std::error_code ec;
        ours.send_handle(std::move(w), ec);
        EXPECT_EQ(ec, tether::errc::peer_gone);
        EXPECT_FALSE(w);
        // Our copy of the write end is closed although it was never delivered: EOF at once.
        EXPECT_EQ(tether::read_to_end_for(r, 5s, ec), "");
        EXPECT_FALSE(ec) << ec.message();
    }
    EXPECT_EQ(count_fds(), before);
}

TEST(ChannelPosix, HandleInFlightWhenThePeerDiesIsReleasedByTheKernel) {
    const int before = count_fds();
    {
        auto [ours, theirs] = tether::make_channel();
        auto child = spawn_with_channel("ch_posix_wait_then", std::move(theirs), {"none"});
        ASSERT_EQ(ours.receive().text(), "ready");
        auto [r, w] = tether::make_pipe();
        ours.send_handle(std::move(w));  // queued in the child's socket, never received
        child.kill();
        EXPECT_TRUE(ours.receive(child).is_vanished());
        // The kernel dropped the in-flight descriptor with the dead socket: nobody holds the
        // write end, so the read end sees end-of-file.
        std::error_code ec;
        EXPECT_EQ(tether::read_to_end_for(r, 10s, ec), "");
        EXPECT_FALSE(ec) << "the in-flight write end is still held somewhere: " << ec.message();
    }
    EXPECT_EQ(count_fds(), before);
}

TEST(ChannelPosix, UnannouncedDescriptorsFromARawPeerAreClosed) {
    const int before = count_fds();
    {
        auto [ours, theirs] = tether::make_channel();
        auto [r, w] = tether::make_pipe();
        // A raw peer sends garbage bytes with a descriptor attached.
        char junk[] = "not a frame!";
        iovec iov{junk, sizeof junk - 1};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        int fd = w.get();
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
        ASSERT_EQ(::sendmsg(theirs.get(), &msg, MSG_NOSIGNAL), static_cast<ssize_t>(iov.iov_len));
        w.reset();
        std::error_code ec;
        ours.receive(ec);
        EXPECT_EQ(ec, tether::errc::protocol_error);
        EXPECT_FALSE(ours.is_open());
        // The descriptor that arrived with the garbage was closed: end-of-file on the read end.
        EXPECT_EQ(tether::read_to_end_for(r, 5s, ec), "");
        EXPECT_FALSE(ec) << ec.message();
    }
    EXPECT_EQ(count_fds(), before);
}

TEST(ChannelPosix, SendingSIGPIPEFreeToAGonePeer) {
    // MSG_NOSIGNAL: a send to a closed peer is an error code, never a signal (the test process
    // would die here otherwise, SIGPIPE's default action).
    auto [ours, theirs] = tether::make_channel();
    theirs.reset();
    std::error_code ec;
    ours.send(std::string(100000, 'z'), ec);
    EXPECT_EQ(ec, tether::errc::peer_gone);
}

TEST(ChannelPosix, TheChildEndIsASocketAndNeverInheritable) {
    auto [ours, theirs] = tether::make_channel();
    EXPECT_FALSE(tether::is_inheritable(theirs));
    EXPECT_FALSE(tether::is_inheritable(ours.native()));
    int type = 0;
    socklen_t len = sizeof type;
    ASSERT_EQ(::getsockopt(theirs.get(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
    EXPECT_EQ(type, SOCK_STREAM);
}

// Defect: a child killed while sending a large message was reported as errc::protocol_error
// (the frame cut short by end-of-file). Here the kill lands exactly mid-frame: the parent waits
// until the socket is readable after "ready" without reading (so the child is blocked in its
// 8 MiB send, far more than the socket holds), reads part of the frame, and kills it.
TEST(ChannelPosix, KilledInTheMiddleOfALargeFrameIsVanishedWithTheSignal) {
    auto [ours, theirs] = tether::make_channel();
    auto worker = tether_test::spawn_with_channel("ch_large_sender", std::move(theirs));
    ASSERT_EQ(ours.receive().text(), "ready");
    pollfd p{ours.native().get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 60000), 1) << "the large frame never started";
    EXPECT_FALSE(ours.try_receive()) << "8 MiB cannot be in the socket already";
    worker.kill();
    auto m = ours.receive(worker);
    EXPECT_TRUE(m.is_vanished()) << m.describe();
    ASSERT_TRUE(m.peer_status);
    EXPECT_TRUE(m.peer_status->signalled()) << m.describe();
    EXPECT_EQ(m.describe(), "vanished: killed by signal 9 (SIGKILL)");
}

// A peer that reads, but slowly: each write of our queue makes progress, so the socket keeps
// polling writable. The receive is still bounded by its timeout, not by the queue's length.
TEST(ChannelPosix, ReceiveForIsBoundedWhileASlowPeerDrainsALongQueue) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    tether::channel ours{tether::unique_handle(sv[0])};
    tether::unique_handle raw_peer(sv[1]);
    std::atomic<bool> stop{false};
    std::thread slow([&raw_peer, &stop] {
        char buf[1024];
        // Pacing, not synchronisation: 1 KiB per millisecond, about 1 MiB/s.
        while (!stop && ::read(raw_peer.get(), buf, sizeof buf) > 0) std::this_thread::sleep_for(1ms);
    });
    ours.send_more(std::string(16 << 20, 'q'));  // 16 s at that pace
    auto start = std::chrono::steady_clock::now();
    std::error_code ec;
    EXPECT_FALSE(ours.receive_for(50ms, ec));
    EXPECT_EQ(ec, tether::errc::timed_out);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "receive_for(50 ms) wrote the whole queue first";
    stop = true;
    ours = tether::channel();  // closes our end: the reader's read ends
    slow.join();
}
