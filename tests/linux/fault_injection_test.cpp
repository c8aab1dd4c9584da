// Linux: fault injection. Trial after trial, a child is SIGKILLed at a random moment
// during start-up, a message exchange, a handle transfer in each direction, or a large message
// in each direction. Every trial must end in a typed outcome (completed, vanished, peer_gone)
// within a bound, and afterwards the test's descriptor count and zombie count are where they
// started. Prints the figures. TETHER_FAULT_TRIALS sets the number of trials (default 10,000;
// the sanitizer runs of test.sh use fewer, each spawn costs more there).
#include "support/harness.hpp"
#include "support/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <thread>

using namespace std::chrono_literals;

namespace {

enum class phase { start_up, exchange, handle_to_child, handle_from_child, large_to_child, large_from_child };
constexpr std::array<const char*, 6> phase_names = {"start-up",         "message exchange", "handle to child",
                                                    "handle from child", "large to child",   "large from child"};
constexpr std::size_t large_size = 2u << 20;  // 2 MiB: many socket buffers' worth
constexpr auto op_timeout = 10s;              // no outcome within this is a failure

enum class outcome { completed, vanished, peer_gone, protocol_error, failed };
constexpr std::array<const char*, 5> outcome_names = {"completed", "vanished", "peer_gone", "protocol_error",
                                                      "FAILED"};

}  // namespace

// The child's half of every phase; it says "ready" once it holds its channel.
TETHER_CHILD_ROLE(fault_peer) {
    auto ch = tether::channel::inherited("control");
    ch.send("ready");
    switch (static_cast<phase>(std::stoi(args.at(0)))) {
        case phase::start_up: break;
        case phase::exchange:
            for (int i = 0; i < 5; ++i) {
                auto m = ch.receive();
                if (m.what != tether::message::kind::data) return 2;
                ch.send("pong");
            }
            break;
        case phase::handle_to_child: {
            auto m = ch.receive();
            ch.send(m.handles.size() == 1 ? "got" : "none");
            break;
        }
        case phase::handle_from_child: {
            auto [r, w] = tether::make_pipe();
            ch.send_handle(std::move(w));
            break;
        }
        case phase::large_to_child: {
            auto m = ch.receive();
            ch.send(std::to_string(m.payload.size()));
            break;
        }
        case phase::large_from_child: ch.send(std::string(large_size, 'x')); break;
    }
    (void)ch.receive();  // the test's goodbye
    return 0;
}

namespace {

// One received message as an outcome; `done` says whether it is the one the phase waits for.
outcome classify(const std::optional<tether::message>& m, const std::error_code& ec, phase ph) {
    if (ec == tether::errc::peer_gone) return outcome::peer_gone;
    // A frame cut short by the peer's death is vanished, never protocol_error (which counts as
    // a failure here, in every phase).
    (void)ph;
    if (ec || !m) return outcome::failed;
    if (m->what == tether::message::kind::vanished) return outcome::vanished;
    if (m->what != tether::message::kind::data) return outcome::failed;
    return outcome::completed;
}

// The test's half of `ph` after "ready"; returns the outcome.
outcome run_phase(tether::channel& ch, phase ph, std::string& detail) {
    std::error_code ec;
    auto recv = [&] { return ch.receive_for(op_timeout, ec); };
    auto sent = [&](outcome& o) {
        if (!ec) return true;
        o = ec == tether::errc::peer_gone ? outcome::peer_gone : outcome::failed;
        detail = "send: " + ec.message();
        return false;
    };
    outcome o = outcome::completed;
    switch (ph) {
        case phase::start_up: return outcome::completed;
        case phase::exchange:
            for (int i = 0; i < 5 && o == outcome::completed; ++i) {
                ch.send("ping", ec);
                if (!sent(o)) return o;
                auto m = recv();
                o = classify(m, ec, ph);
                if (o == outcome::completed && m->text() != "pong") o = outcome::failed, detail = "not pong";
            }
            return o;
        case phase::handle_to_child: {
            auto [r, w] = tether::make_pipe();
            ch.send_handle(std::move(w), ec);
            if (!sent(o)) return o;
            auto m = recv();
            o = classify(m, ec, ph);
            if (o == outcome::completed && m->text() != "got") o = outcome::failed, detail = "reply " + std::string(m->text());
            return o;
        }
        case phase::handle_from_child: {
            auto m = recv();
            o = classify(m, ec, ph);
            if (o == outcome::completed && m->handles.size() != 1) o = outcome::failed, detail = "no handle";
            return o;
        }
        case phase::large_to_child: {
            ch.send(std::string(large_size, 'y'), ec);
            if (!sent(o)) return o;
            auto m = recv();
            o = classify(m, ec, ph);
            if (o == outcome::completed && m->text() != std::to_string(large_size)) o = outcome::failed, detail = "short";
            return o;
        }
        case phase::large_from_child: {
            auto m = recv();
            o = classify(m, ec, ph);
            if (o == outcome::completed && m->payload.size() != large_size) o = outcome::failed, detail = "short";
            return o;
        }
    }
    return outcome::failed;
}

// How long after the moment a phase begins the kill may come: about the phase's own length, so
// that kills land before, inside and after it.
std::chrono::microseconds kill_window(phase ph) {
    switch (ph) {
        case phase::start_up: return 4000us;  // spawn, exec, dynamic loading, inherited()
        case phase::exchange: return 400us;
        case phase::handle_to_child:
        case phase::handle_from_child: return 60us;
        case phase::large_to_child:
        case phase::large_from_child: return 2500us;
    }
    return 1000us;
}

struct trial_result {
    outcome how{outcome::failed};
    std::chrono::microseconds took{0};
    std::string detail;
};

trial_result run_trial(phase ph, std::mt19937& rng) {
    auto t0 = std::chrono::steady_clock::now();
    auto [ch, theirs] = tether::make_channel();
    auto c = tether_test::spawn_with_channel("fault_peer", std::move(theirs), {std::to_string(static_cast<int>(ph))});
    trial_result r;
    std::uniform_int_distribution<long> delay(0, kill_window(ph).count());
    auto kill_after = std::chrono::microseconds(delay(rng));
    pid_t pid = static_cast<pid_t>(c.pid());
    std::thread killer;
    auto arm = [&] {  // the child is not reaped before the killer is joined: the pid stays ours
        killer = std::thread([pid, kill_after] {
            std::this_thread::sleep_for(kill_after);  // the random moment itself, not a synchronisation
            ::kill(pid, SIGKILL);
        });
    };
    if (ph == phase::start_up) arm();
    std::error_code ec;
    auto ready = ch.receive_for(op_timeout, ec);
    r.how = classify(ready, ec, ph);
    if (r.how == outcome::completed && ready->text() != "ready") r.how = outcome::failed, r.detail = "not ready";
    if (ph != phase::start_up) {
        arm();
        if (r.how == outcome::completed) r.how = run_phase(ch, ph, r.detail);
    }
    if (r.how == outcome::failed && r.detail.empty()) r.detail = ec ? ec.message() : "no message";
    ch.close(ec);  // goodbye lets a surviving child end; peer_gone if it is dead: both fine
    killer.join();
    auto st = c.wait();
    if (!st.success() && !(!st.exited() && st.code == SIGKILL))
        r.how = outcome::failed, r.detail = "child " + st.describe();
    r.took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    return r;
}

}  // namespace

TEST(FaultInjection, RandomKillsEndInTypedOutcomesAndLeaveNothingBehind) {
    const char* env = std::getenv("TETHER_FAULT_TRIALS");
    const int trials = env != nullptr ? std::atoi(env) : 10000;
    ASSERT_GT(trials, 0);
    std::mt19937 rng(std::random_device{}());
    auto fds_before = tether_test::open_fds();
    auto zombies_before = tether_test::zombie_children();
    std::map<std::pair<int, int>, int> counts;  // (phase, outcome) -> trials
    std::chrono::microseconds slowest{0};
    int failures = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < trials; ++i) {
        auto ph = static_cast<phase>(i % phase_names.size());
        auto r = run_trial(ph, rng);
        ++counts[{static_cast<int>(ph), static_cast<int>(r.how)}];
        slowest = std::max(slowest, r.took);
        if (r.how == outcome::failed && failures++ < 5)
            ADD_FAILURE() << "trial " << i << " (" << phase_names[static_cast<int>(ph)] << "): " << r.detail;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("fault injection: %d trials in %.1f s, slowest outcome %.1f ms\n", trials, secs,
                static_cast<double>(slowest.count()) / 1000.0);
    for (std::size_t p = 0; p < phase_names.size(); ++p) {
        std::printf("  %-18s", phase_names[p]);
        for (std::size_t o = 0; o < outcome_names.size(); ++o)
            if (int n = counts[{static_cast<int>(p), static_cast<int>(o)}]) std::printf(" %s %d", outcome_names[o], n);
        std::printf("\n");
    }
    EXPECT_EQ(failures, 0);
    EXPECT_LT(slowest, std::chrono::microseconds(op_timeout));  // every outcome came within the bound
    EXPECT_EQ(tether_test::join(tether_test::open_fds()), tether_test::join(fds_before));
    EXPECT_EQ(tether_test::join(tether_test::zombie_children()), tether_test::join(zombies_before));
    if (env == nullptr) {
        EXPECT_GE(trials, 10000);
    }
}
