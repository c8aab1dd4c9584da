// tether::poller, on both platforms: child exits, pipe ends, channels (messages, goodbye,
// vanished joined with the exit status, failure of a hostile peer among healthy ones), frames
// already buffered before a wait, removal at any time, and a worker pool that survives a kill.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

using namespace std::chrono_literals;
using tether::poll_event;
using tether_test::spawn_with_channel;

namespace {

std::span<const std::byte> as_bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// Waits (bounded) until `pred` holds for the events collected so far.
template <class Pred>
std::vector<poll_event> collect(tether::poller& p, Pred pred, std::chrono::milliseconds limit = 60s) {
    std::vector<poll_event> all, batch;
    auto until = std::chrono::steady_clock::now() + limit;
    while (!pred(all) && std::chrono::steady_clock::now() < until) {
        p.wait(batch, 1s);
        for (auto& e : batch) all.push_back(std::move(e));
    }
    return all;
}

std::size_t count(const std::vector<poll_event>& evs, poll_event::kind k) {
    return static_cast<std::size_t>(std::count_if(evs.begin(), evs.end(), [&](const poll_event& e) { return e.what == k; }));
}

}  // namespace

TETHER_CHILD_ROLE(poll_exit_with) { return std::stoi(args.at(0)); }

// Replies to "job N" with "done N"; goodbye ends it.
TETHER_CHILD_ROLE(poll_worker) {
    auto ctl = tether::channel::inherited("control");
    for (;;) {
        auto m = ctl.receive();
        if (!m.is_data()) {
            ctl.close();
            return 0;
        }
        // Queued: the next receive() writes the replies before it waits, so a burst of jobs
        // is answered in a few writes.
        ctl.send_more("done " + std::string(m.text().substr(4)));
    }
}

TEST(Poller, ReportsEachChildExitOnceWithItsStatus) {
    tether::poller p;
    std::vector<tether::child> kids;
    for (int code : {0, 3, 7}) kids.push_back(tether::spawn(tether_test::role_options("poll_exit_with", {std::to_string(code)})));
    for (std::size_t i = 0; i < kids.size(); ++i) p.add(kids[i], 100 + i);
    EXPECT_EQ(p.size(), 3u);
    auto evs = collect(p, [](auto& e) { return e.size() >= 3; });
    ASSERT_EQ(evs.size(), 3u);
    std::map<std::uint64_t, int> codes;
    for (auto& e : evs) {
        EXPECT_EQ(e.what, poll_event::kind::exited) << e.describe();
        ASSERT_TRUE(e.status);
        codes[e.token] = e.status->code;
    }
    EXPECT_EQ(codes, (std::map<std::uint64_t, int>{{100, 0}, {101, 3}, {102, 7}}));
    EXPECT_EQ(p.size(), 0u) << "an exited child is no longer registered";
    std::vector<poll_event> none;
    EXPECT_EQ(p.wait(none, 0ms), 0u);
}

TEST(Poller, PipeEndIsReadableThenHungUp) {
    tether::poller p;
    auto [r, w] = tether::make_pipe();
    p.add(r, tether::interest::read, 1);
    std::vector<poll_event> evs;
    EXPECT_EQ(p.wait(evs, 0ms), 0u) << "nothing written yet";
    tether::write_all(w, "x");
    ASSERT_EQ(p.wait(evs, 10s), 1u);
    EXPECT_EQ(evs[0].what, poll_event::kind::readable);
    std::array<std::byte, 8> buf;
    std::error_code ec;
    EXPECT_EQ(tether::try_read(r, buf, ec), 1u);
    EXPECT_EQ(tether::try_read(r, buf, ec), 0u);
    EXPECT_EQ(ec, tether::errc::would_block);
    w.reset();
    auto all = collect(p, [](auto& e) { return !e.empty(); }, 10s);
    EXPECT_GE(count(all, poll_event::kind::hung_up) + count(all, poll_event::kind::readable), 1u);
    EXPECT_EQ(tether::try_read(r, buf, ec), 0u);
    EXPECT_FALSE(ec) << "end-of-file: " << ec.message();
    EXPECT_TRUE(p.remove(1));
    EXPECT_FALSE(p.remove(1));
}

TEST(Poller, WriteEndIsWritableAndTokensAreUnique) {
    tether::poller p;
    auto [r, w] = tether::make_pipe();
    p.add(w, tether::interest::write, 7);
    EXPECT_THROW(p.add(r, tether::interest::read, 7), std::system_error) << "token 7 is in use";
    std::vector<poll_event> evs;
    ASSERT_EQ(p.wait(evs, 10s), 1u);
    EXPECT_EQ(evs[0].what, poll_event::kind::writable);
    std::error_code ec;
    EXPECT_GT(tether::try_write(w, as_bytes("hello"), ec), 0u) << ec.message();
}

TEST(Poller, ChannelMessagesArriveInEventsThenGoodbye) {
    auto [ours, theirs] = tether::make_channel();
    auto worker = spawn_with_channel("poll_worker", std::move(theirs));
    tether::poller p;
    p.add(ours, worker, 5);
    for (int i = 0; i < 100; ++i) ours.post("job " + std::to_string(i));
    std::vector<std::string> replies;
    auto evs = collect(p, [](auto& e) { return count(e, poll_event::kind::message) >= 100; });
    for (auto& e : evs)
        if (e.what == poll_event::kind::message) replies.emplace_back(e.msg.text());
    ASSERT_EQ(replies.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(replies[static_cast<std::size_t>(i)], "done " + std::to_string(i));
    ours.close();  // goodbye: the worker answers with its own
    EXPECT_EQ(p.size(), 0u) << "closing a registered channel removes it";
    EXPECT_TRUE(worker.wait().success());
}

TEST(Poller, VanishedCarriesTheExitStatusWithoutBlockingTheLoop) {
    auto [ours, theirs] = tether::make_channel();
    auto worker = spawn_with_channel("poll_worker", std::move(theirs));
    tether::poller p;
    p.add(ours, worker, 9);
    ours.post("job 1");
    auto first = collect(p, [](auto& e) { return !e.empty(); });
    ASSERT_FALSE(first.empty());
    EXPECT_EQ(first[0].what, poll_event::kind::message);
    worker.kill();
    auto evs = collect(p, [](auto& e) { return count(e, poll_event::kind::vanished) > 0; });
    ASSERT_EQ(count(evs, poll_event::kind::vanished), 1u);
    auto& v = evs.back();
    ASSERT_TRUE(v.status) << v.describe();
    EXPECT_FALSE(v.status->success());
    ASSERT_TRUE(v.msg.peer_status);
    EXPECT_EQ(*v.msg.peer_status, *v.status);
    EXPECT_EQ(p.size(), 0u);
}

// The channel's vanished event reaps the child; the child registered on its own as well still
// reports its exit (its pidfd closes with the reap: it must be reported, never left watched).
TEST(Poller, ChildRegisteredBesideItsChannelReportsBothEnds) {
    for (int round = 0; round < 20; ++round) {
        auto [ours, theirs] = tether::make_channel();
        auto worker = spawn_with_channel("poll_worker", std::move(theirs));
        tether::poller p;
        p.add(ours, worker, 1);
        p.add(worker, 2);
        worker.kill();
        auto evs = collect(p, [](auto& e) { return e.size() >= 2; }, 30s);
        ASSERT_EQ(evs.size(), 2u) << "round " << round;
        EXPECT_EQ(count(evs, poll_event::kind::vanished), 1u);
        EXPECT_EQ(count(evs, poll_event::kind::exited), 1u);
        for (auto& e : evs) {
            ASSERT_TRUE(e.status) << e.describe();
            EXPECT_FALSE(e.status->success()) << e.describe();
        }
        EXPECT_EQ(p.size(), 0u);
    }
}

// Frames already in the channel's own buffer are invisible to the OS: the poller reports them
// without waiting (the "poll, then one receive() per wake-up" hang).
TEST(Poller, FramesAlreadyBufferedAreReported) {
    auto [ours, theirs] = tether::make_channel();
    tether::channel peer(std::move(theirs));
    peer.send_more("one");
    peer.send_more("two");
    peer.send_more("three");
    peer.flush();
    ASSERT_EQ(ours.receive().text(), "one");  // reads all three, returns one
    tether::poller p;
    p.add(ours, 1);
    std::vector<poll_event> evs;
    ASSERT_EQ(p.wait(evs, 0ms), 2u) << "nothing more will come from the OS: both are buffered";
    EXPECT_EQ(evs[0].msg.text(), "two");
    EXPECT_EQ(evs[1].msg.text(), "three");
    // Buffered by a receive() made while registered: the next wait still sees the rest.
    peer.send_more("four");
    peer.send_more("five");
    peer.flush();
    ASSERT_EQ(ours.receive().text(), "four");
    ASSERT_EQ(p.wait(evs, 0ms), 1u);
    EXPECT_EQ(evs[0].msg.text(), "five");
}

// The cap of 64 messages per channel per wait is what keeps one flooding peer from starving
// the others: it holds for every wait, also when the channel's frames are both buffered and
// readable from the OS in the same wait.
TEST(Poller, AtMost64MessagesPerChannelInEveryWait) {
    auto [ours, theirs] = tether::make_channel();
    tether::channel peer(std::move(theirs));
    constexpr int sent = 1500;
    for (int k = 0; k < sent; ++k) peer.send_more("m" + std::to_string(k));
    peer.close();
    tether::poller p;
    p.add(ours, 1);
    std::vector<poll_event> evs;
    int received = 0;
    bool ended = false;
    for (int waits = 0; !ended && waits < 1000; ++waits) {
        p.wait(evs, 5s);
        ASSERT_FALSE(evs.empty()) << "wait " << waits << " reported nothing after " << received << " messages";
        std::size_t messages = count(evs, poll_event::kind::message);
        EXPECT_LE(messages, 64u) << "wait " << waits;
        for (auto& e : evs) {
            if (e.what == poll_event::kind::message) EXPECT_EQ(e.msg.text(), "m" + std::to_string(received++));
            else ended = e.what == poll_event::kind::goodbye;
        }
    }
    EXPECT_TRUE(ended);
    EXPECT_EQ(received, sent);
}

// A child's exit is reported once, to one token: a second child source for it is refused by
// name (not the OS's "File exists"), and the first registration keeps working.
TEST(Poller, TheSameChildUnderASecondTokenIsRefusedByName) {
    auto c = tether::spawn(tether_test::role_options("poll_exit_with", {"4"}));
    tether::poller p;
    p.add(c, 1);
    try {
        p.add(c, 2);
        FAIL() << "the same child was accepted twice";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument) << e.what();
        EXPECT_NE(std::string(e.what()).find("token 1"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(p.contains(2));
    auto evs = collect(p, [](const std::vector<poll_event>& all) { return !all.empty(); });
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].token, 1u);
    ASSERT_TRUE(evs[0].status);
    EXPECT_EQ(evs[0].status->code, 4);
}

TEST(Poller, RemovedSourcesReportNothingMore) {
    auto [a, a_theirs] = tether::make_channel();
    auto [b, b_theirs] = tether::make_channel();
    tether::channel pa(std::move(a_theirs)), pb(std::move(b_theirs));
    tether::poller p;
    p.add(a, 1);
    p.add(b, 2);
    pa.send("for a");
    pb.send("for b");
    std::vector<poll_event> evs;
    auto all = collect(p, [](auto& e) { return e.size() >= 2; });
    ASSERT_EQ(all.size(), 2u);
    // Both peers send again; while handling the first event of the batch, remove the other.
    pa.send("a again");
    pb.send("b again");
    pa.send("a third");
    pb.send("b third");
    std::set<std::uint64_t> after_removal;
    bool removed = false;
    for (int round = 0; round < 5; ++round) {
        p.wait(evs, 1s);
        for (auto& e : evs) {
            if (removed) after_removal.insert(e.token);
            if (!removed) {
                EXPECT_TRUE(p.remove(e.token == 1 ? 2 : 1));
                removed = true;
                after_removal.clear();
            }
        }
        if (removed) break;
    }
    ASSERT_TRUE(removed);
    // Events already in that batch may name the removed token; later waits never do.
    for (int round = 0; round < 3; ++round) {
        p.wait(evs, 50ms);
        for (auto& e : evs) EXPECT_TRUE(p.contains(e.token)) << e.describe();
    }
    EXPECT_EQ(p.size(), 1u);
    // A channel destroyed while registered is removed with it.
    {
        auto [c, c_theirs] = tether::make_channel();
        p.add(c, 3);
        EXPECT_EQ(p.size(), 2u);
    }
    EXPECT_EQ(p.size(), 1u);
    EXPECT_FALSE(p.contains(3));
}

// One broken peer (garbage, an absurd length) among 100 healthy ones: it is closed and
// reported; every healthy message still arrives.
TEST(Poller, HostilePeerFailsAloneAmongHealthyOnes) {
    constexpr std::size_t healthy = 100;
    std::vector<tether::channel> ours, peers;
    tether::poller p;
    for (std::size_t i = 0; i < healthy + 2; ++i) {
        auto [o, t] = tether::make_channel(tether::channel_options{1024});
        ours.push_back(std::move(o));
        peers.emplace_back(std::move(t));
    }
    for (std::size_t i = 0; i < ours.size(); ++i) p.add(ours[i], i);
    for (std::size_t i = 0; i < healthy; ++i) peers[i].send("hello " + std::to_string(i));
    // A raw peer writes garbage; another announces 4 GiB - 1 (over the maximum).
    tether::write_all(peers[healthy].native(), "GET / HTTP/1.1\r\n\r\n");
    std::vector<std::byte> huge{std::byte{0x54}, std::byte{0x54}, std::byte{1}, std::byte{1}, std::byte{0}, std::byte{0},
                                std::byte{0},    std::byte{0},    std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
    tether::write_all(peers[healthy + 1].native(), std::span<const std::byte>(huge));
    auto evs = collect(p, [&](auto& e) { return e.size() >= healthy + 2; });
    EXPECT_EQ(count(evs, poll_event::kind::message), healthy);
    ASSERT_EQ(count(evs, poll_event::kind::failed), 2u);
    for (auto& e : evs) {
        if (e.what != poll_event::kind::failed) continue;
        EXPECT_GE(e.token, healthy);
        EXPECT_EQ(e.error, e.token == healthy ? tether::errc::protocol_error : tether::errc::message_too_large) << e.describe();
        EXPECT_FALSE(ours[e.token].is_open()) << "a failed channel is closed";
    }
    EXPECT_EQ(p.size(), healthy);
    peers[3].send("still here");
    auto more = collect(p, [](auto& e) { return !e.empty(); });
    ASSERT_EQ(more.size(), 1u);
    EXPECT_EQ(more[0].token, 3u);
    EXPECT_EQ(more[0].msg.text(), "still here");
}

// A pool of 8 workers, 10,000 jobs round-robin; one worker is SIGKILLed (TerminateProcess)
// mid-way: detected, restarted, its outstanding jobs re-sent; every result arrives.
TEST(Poller, WorkerPoolSurvivesAKilledWorker) {
    constexpr int workers = 8, jobs = 10000;
    struct worker {
        tether::channel ctl;
        tether::child proc;
        std::set<int> outstanding;
    };
    std::vector<worker> pool(workers);
    tether::poller p;
    auto start = [&](std::size_t w) {
        auto [ours, theirs] = tether::make_channel();
        pool[w].ctl = std::move(ours);
        pool[w].proc = spawn_with_channel("poll_worker", std::move(theirs));
        p.add(pool[w].ctl, pool[w].proc, w);
    };
    for (std::size_t w = 0; w < workers; ++w) start(w);
    std::set<int> done;
    int next = 0, restarts = 0;
    bool killed = false;
    auto deadline = std::chrono::steady_clock::now() + 120s;
    std::vector<poll_event> evs;
    while (done.size() < jobs && std::chrono::steady_clock::now() < deadline) {
        // Keep at most 64 jobs in flight per worker. A post to the killed worker before its
        // vanished event is errc::peer_gone: the job stays outstanding and is re-sent.
        for (std::size_t w = 0; w < workers && next < jobs; ++w)
            while (pool[w].outstanding.size() < 64 && next < jobs) {
                std::error_code ec;
                pool[w].ctl.post("job " + std::to_string(next), ec);
                ASSERT_TRUE(!ec || ec == tether::errc::peer_gone) << ec.message();
                pool[w].outstanding.insert(next++);
            }
        if (!killed && done.size() >= jobs / 2) {
            pool[3].proc.kill();
            killed = true;
        }
        p.wait(evs, 1s);
        for (auto& e : evs) {
            auto& w = pool[e.token];
            if (e.what == poll_event::kind::message) {
                int n = std::stoi(std::string(e.msg.text().substr(5)));
                w.outstanding.erase(n);
                done.insert(n);
                continue;
            }
            ASSERT_EQ(e.what, poll_event::kind::vanished) << e.describe();
            ASSERT_TRUE(e.status) << e.describe();
            EXPECT_FALSE(e.status->success());
            auto lost = std::move(w.outstanding);
            w.outstanding.clear();
            start(e.token);
            ++restarts;
            for (int n : lost) {
                w.ctl.post("job " + std::to_string(n));
                w.outstanding.insert(n);
            }
        }
    }
    EXPECT_EQ(done.size(), static_cast<std::size_t>(jobs));
    EXPECT_EQ(restarts, 1);
    for (auto& w : pool) {
        w.ctl.close();
        EXPECT_TRUE(w.proc.wait().success());
    }
}
