// Linux: many threads spawning at once. Two threads spawn 1,000 short children each while a
// third keeps adding long-lived children that hold pipe ends of their own until the end. Every
// short child checks from the inside that it holds exactly 0, 1, 2 and its own pipe (no other
// child's handle), and its parent must see end-of-file while all long-lived children still run:
// a long-lived child that had inherited a short child's pipe would hold that EOF back forever.
// TETHER_STRESS_SPAWNS sets the spawns per short thread (default 1,000; the sanitizer stages of
// test.sh run fewer, since an instrumented spawn costs several times more).
#include "support/harness.hpp"
#include "linux/exec_child.hpp"
#include "testing/test_hooks.hpp"
#include "support/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;

TETHER_CHILD_ROLE(stress_short) {
    auto out = tether::inherited("out");
    auto fds = tether_test::join(tether_test::open_fds());
    tether::write_all(out, fds == "0,1,2,3" ? args.at(0) : args.at(0) + " LEAK " + fds);
    return 0;
}

namespace {

constexpr int short_threads = 2;
constexpr int long_every = 50;  // a new long-lived child per this many short spawns (all threads)

struct shared_state {
    std::mutex m;
    std::condition_variable cv;
    int progress{0};
    bool done{false};
    std::atomic<int> failures{0};
    std::string first_failure;

    void fail(const std::string& what) {
        std::lock_guard lock(m);
        if (failures++ == 0) first_failure = what;
    }
    void step() {
        std::lock_guard lock(m);
        ++progress;
        cv.notify_all();
    }
};

void run_short(shared_state& s, int thread_no, int spawns_per_thread) {
    for (int i = 0; i < spawns_per_thread; ++i) {
        auto token = "t" + std::to_string(thread_no) + "-" + std::to_string(i);
        try {
            auto [ours, theirs] = tether::make_pipe(tether::direction::in);
            auto opt = tether_test::role_options("stress_short", {token});
            opt.in = tether::stdio::null();
            opt.out = tether::stdio::null();
            opt.pass(std::move(theirs), "out");
            auto c = tether::spawn(std::move(opt));
            std::error_code ec;
            auto text = tether::read_to_end_for(ours, 15s, ec);
            if (ec) s.fail(token + ": no end-of-file: " + ec.message());
            else if (text != token) s.fail(token + ": got '" + text + "'");
            auto st = c.wait();
            if (!st.success()) s.fail(token + ": " + st.describe());
        } catch (const std::exception& e) {
            s.fail(token + ": " + e.what());
        }
        s.step();
    }
}

struct long_lived {
    tether::child c;
    tether::unique_handle stdin_end;
    tether::unique_handle held_read_end;
};

// Adds a long-lived child every `long_every` short spawns, until the short threads are done.
void run_long(shared_state& s, std::vector<long_lived>& out) {
    int next_at = 0;
    for (;;) {
        {
            std::unique_lock lock(s.m);
            s.cv.wait(lock, [&] { return s.done || s.progress >= next_at; });
            if (s.done) return;
        }
        next_at += long_every;
        try {
            auto [ours, theirs] = tether::make_pipe(tether::direction::in);
            auto opt = tether_test::role_options("wait_stdin_eof");
            opt.in = tether::stdio::pipe();
            opt.pass(std::move(theirs), "held");
            auto c = tether::spawn(std::move(opt));
            auto in = c.take_stdin();
            out.push_back({std::move(c), std::move(in), std::move(ours)});
        } catch (const std::exception& e) {
            s.fail(std::string("long-lived: ") + e.what());
        }
    }
}

void stress(int spawns_per_thread) {
    shared_state s;
    std::vector<long_lived> long_children;
    auto start = std::chrono::steady_clock::now();
    std::thread longs([&] { run_long(s, long_children); });
    std::vector<std::thread> shorts;
    for (int t = 0; t < short_threads; ++t) shorts.emplace_back([&, t] { run_short(s, t, spawns_per_thread); });
    for (auto& t : shorts) t.join();
    {
        std::lock_guard lock(s.m);
        s.done = true;
        s.cv.notify_all();
    }
    longs.join();
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    EXPECT_EQ(s.failures.load(), 0) << s.first_failure;
    EXPECT_GE(long_children.size(), 10u);
    // Every long-lived child is still running: the short children's end-of-file came without them.
    for (auto& l : long_children) EXPECT_FALSE(l.c.try_wait()) << "pid " << l.c.pid();
    for (auto& l : long_children) {
        std::byte b[1];
        std::error_code ec;
        EXPECT_EQ(tether::read_for(l.held_read_end, b, 0ms, ec), 0u);
        EXPECT_EQ(ec, tether::errc::timed_out) << "a long-lived child's own pipe is still held by it";
        l.stdin_end.reset();
    }
    for (auto& l : long_children) EXPECT_TRUE(l.c.wait().success());
    std::cout << "[ stress   ] " << short_threads * spawns_per_thread << " short spawns, "
              << long_children.size() << " long-lived, " << elapsed.count() << " ms\n";
}

int spawns_per_thread() {
    const char* env = std::getenv("TETHER_STRESS_SPAWNS");
    return env != nullptr ? std::atoi(env) : 1000;
}

}  // namespace

TEST(Stress, ConcurrentSpawnsNeverShareHandlesOrDelayEndOfFile) {
    ASSERT_GT(spawns_per_thread(), 0) << "TETHER_STRESS_SPAWNS must be a positive number";
    stress(spawns_per_thread());
}

TEST(Stress, TheSameOnTheCloseFallback) {
    // The fallback lists /proc/self/fd in the parent; what tether itself creates is close-on-exec,
    // so even this path never hands one child's pipe to another.
    tether::detail::test_hooks::force_close_way(tether::detail::close_way::listing);
    stress(std::max(spawns_per_thread() / 4, 250));  // 250: enough spawns for 10 long-lived children
    tether::detail::test_hooks::force_close_way(tether::detail::close_way::cloexec_range);
}
