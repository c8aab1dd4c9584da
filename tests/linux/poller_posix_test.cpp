// tether::poller at Linux scale: 1,000 live children with channels from one thread, and many
// peers that announce 16 MiB and stall while our memory stays flat.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sys/resource.h>
#include <unistd.h>

using namespace std::chrono_literals;
using tether::poll_event;

namespace {

long rss_kib() {
    std::ifstream statm("/proc/self/statm");
    long size = 0, resident = 0;
    statm >> size >> resident;
    return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// Raises the soft descriptor limit to what `need` descriptors take; false if the hard limit is
// lower (the caller skips with the reason).
bool allow_descriptors(rlim_t need) {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur >= need) return true;
    if (r.rlim_max < need) return false;
    r.rlim_cur = need;
    return ::setrlimit(RLIMIT_NOFILE, &r) == 0;
}

}  // namespace

// Says "up", then waits for goodbye (answering with its own) or its death.
TETHER_CHILD_ROLE(poll_idle) {
    auto ctl = tether::channel::inherited("control");
    ctl.send("up");
    while (ctl.receive().is_data()) {
    }
    ctl.close();
    return 0;
}

TEST(PollerPosix, ThousandChildrenWithChannelsFromOneThread) {
    constexpr std::size_t n = 1000;
    if (!allow_descriptors(4 * n + 64)) GTEST_SKIP() << "the hard RLIMIT_NOFILE is below " << 4 * n + 64;
    struct worker {
        tether::channel ctl;
        tether::child proc;
    };
    std::vector<worker> pool(n);
    tether::poller p;
    for (std::size_t i = 0; i < n; ++i) {
        auto [ours, theirs] = tether::make_channel();
        pool[i].ctl = std::move(ours);
        pool[i].proc = tether_test::spawn_with_channel("poll_idle", std::move(theirs));
        p.add(pool[i].ctl, pool[i].proc, i);
    }
    std::set<std::uint64_t> up, ended;
    std::vector<poll_event> evs;
    auto until = std::chrono::steady_clock::now() + 120s;
    while (up.size() < n && std::chrono::steady_clock::now() < until) {
        p.wait(evs, 1s);
        for (auto& e : evs) {
            ASSERT_EQ(e.what, poll_event::kind::message) << e.describe();
            EXPECT_EQ(e.msg.text(), "up");
            up.insert(e.token);
        }
    }
    ASSERT_EQ(up.size(), n) << "every message delivered";
    // Every other child is killed; the rest are told goodbye (closing removes the channel, so
    // those children's exits are watched instead): every end must be noticed.
    for (std::size_t i = 0; i < n; i += 2) pool[i].proc.kill();
    for (std::size_t i = 1; i < n; i += 2) {
        pool[i].ctl.close();
        p.add(pool[i].proc, n + i);
    }
    std::size_t vanished = 0, exited = 0;
    until = std::chrono::steady_clock::now() + 120s;
    while (vanished + exited < n && std::chrono::steady_clock::now() < until) {
        p.wait(evs, 1s);
        for (auto& e : evs) {
            if (e.what == poll_event::kind::vanished) {
                ++vanished;
                ASSERT_TRUE(e.status) << e.describe();
                EXPECT_TRUE(e.status->signalled()) << e.describe();
            } else if (e.what == poll_event::kind::exited) {
                ++exited;
                ASSERT_TRUE(e.status);
                EXPECT_TRUE(e.status->success()) << e.describe();
            } else {
                ADD_FAILURE() << e.describe();
            }
        }
    }
    EXPECT_EQ(vanished, n / 2) << "every kill noticed, with its status";
    EXPECT_EQ(exited, n / 2) << "every orderly exit noticed";
    EXPECT_EQ(p.size(), 0u);
}

// A peer that announces 16 MiB and sends 12 bytes costs almost nothing: before, each such
// channel allocated the announced size (1,000 hostile children = 16 GiB).
TEST(PollerPosix, StalledHugeAnnouncementsKeepOurMemoryFlat) {
    constexpr std::size_t n = 200;
    if (!allow_descriptors(2 * n + 64)) GTEST_SKIP() << "the hard RLIMIT_NOFILE is below " << 2 * n + 64;
    std::vector<tether::channel> ours;
    std::vector<tether::unique_handle> raw;
    tether::poller p;
    for (std::size_t i = 0; i < n; ++i) {
        auto [o, t] = tether::make_channel();
        ours.push_back(std::move(o));
        raw.push_back(std::move(t));
        p.add(ours.back(), i);
    }
    long before = rss_kib();
    // Header: data, no handles, payload 16 MiB - 1; then a few payload bytes, then nothing.
    std::vector<std::byte> head{std::byte{0x54}, std::byte{0x54}, std::byte{1}, std::byte{1}, std::byte{0}, std::byte{0},
                                std::byte{0},    std::byte{0},    std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0x00}};
    for (auto& r : raw) {
        tether::write_all(r, std::span<const std::byte>(head));
        tether::write_all(r, "partial");
    }
    std::vector<poll_event> evs;
    for (int round = 0; round < 5; ++round) {
        p.wait(evs, 20ms);
        EXPECT_TRUE(evs.empty()) << "an incomplete frame is no event";
    }
    long grew = rss_kib() - before;
    // 200 announcements of 16 MiB would be 3.2 GiB; each costs at most a few KiB now.
    EXPECT_LT(grew, 16 * 1024) << "RSS grew by " << grew << " KiB for " << n << " stalled 16 MiB announcements";
    for (auto& o : ours) EXPECT_FALSE(o.try_receive()) << "still waiting for the rest";
}

// A descriptor that is not open is the documented invalid_argument naming it, not EBADF.
TEST(PollerPosix, AClosedDescriptorIsRefusedByName) {
    tether::poller p;  // first: its own descriptor must not take the closed number
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ::close(fds[1]);
    ::close(fds[0]);  // fds[0] is now closed (and nothing of ours reopens it before the add)
    try {
        p.add(tether::borrowed_handle(fds[0]), tether::interest::read, 1);
        FAIL() << "a closed descriptor was accepted";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument) << e.what();
        EXPECT_NE(std::string(e.what()).find(std::to_string(fds[0])), std::string::npos) << e.what();
    }
    EXPECT_EQ(p.size(), 0u);
}
