// peer_tether — tether in the peer benchmarks (bench/peers/PROTOCOL.md), written as its
// documentation shows: spawn_options + tether::spawn, stdio::pipe() and stdio::pipe(capacity),
// tether::chunk_reader, tether::read / write_all, tether::forward (splice), child::wait / kill,
// a channel with send_more() for messages (the receiving child is this program in its
// `channel-sink` role), a tether::poller for children, tether::ignore_sigpipe() at startup.
//
// usage: peer_tether WORKLOAD ITERATIONS CHILD
//        peer_tether channel-sink     (the child side of `messages`, started by the above)
#include "peer_common.hpp"

#include <tether/tether.hpp>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <exception>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {


std::string g_workload;  // for messages; set once in main

void wait_ok(tether::child& c, const char* what) {
    auto st = c.wait();
    PEER_REQUIRE(st.success(), g_workload, "%s: %s", what, st.describe().c_str());
}

tether::spawn_options options(std::vector<std::string> argv) {
    tether::spawn_options opt;
    opt.argv = std::move(argv);
    return opt;
}

std::vector<std::string> stream_argv(const peer::args& a, std::uint64_t bytes, std::uint64_t chunk) {
    return {a.child, "stream", std::to_string(bytes), std::to_string(chunk)};
}

// ---- spawn, spawn_2g, spawn_fds
double spawn_true() {
    return peer::timed([] {
        auto c = tether::spawn(options({"/bin/true"}));
        wait_ok(c, "/bin/true");
    });
}

long long child_fds(const peer::args& a) {
    auto opt = options({a.child, "fds"});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    std::string text = tether::take_stdout_text(c);
    wait_ok(c, "peer_child fds");
    long long n = peer::parse_count(text);
    PEER_REQUIRE(n >= 0, g_workload, "peer_child fds printed '%s'", text.c_str());
    return n;
}

// ---- stream: the child's stdout to end-of-file with tether::chunk_reader, through a pipe of
// 512 KiB (stdio::pipe(capacity)): the reader's buffer is the pipe's capacity, so each read
// drains a full pipe and the child blocks 8 times less often than on the 64 KiB default, and it
// is page-aligned, so the kernel's copies into it are aligned. Measured pinned to one CPU (as
// the driver runs it), 512 KiB is the best of 64 KiB .. 1 MiB; at 1 MiB the pipe and the buffer
// no longer stay in the cache between the writer's and the reader's turns.
constexpr std::size_t stream_capacity = std::size_t{512} << 10;
// forward: 1 MiB pipes from the child and into drain, and forward_options::batch_scheduling.
// Pinned to one CPU, the three processes take turns: without the option, forward() was woken by
// each 64 KiB write that found the source empty and took the CPU from the writer to move just
// that write (perf stat: 15,000-23,000 context switches per GiB). As SCHED_BATCH it waits for the
// writer to block on a full pipe and moves 1 MiB at once (3,500 per GiB): 178-187 ms per GiB against 217-236 ms
// for the best pair without it (1 MiB / 128 KiB), and 173-182 ms for the floor (no forwarder).
constexpr std::size_t forward_from_capacity = std::size_t{1} << 20;
constexpr std::size_t forward_to_capacity = std::size_t{1} << 20;

std::uint64_t read_all(tether::borrowed_handle h) {
    tether::chunk_reader reader(h);
    std::uint64_t total = 0;
    for (auto chunk = reader.next(); !chunk.empty(); chunk = reader.next()) {
        total += chunk.size();
    }
    return total;
}

double stream_once(const peer::args& a, std::size_t& capacity) {
    return peer::timed([&] {
        auto opt = options(stream_argv(a, peer::stream_bytes, peer::stream_chunk));
        opt.out = tether::stdio::pipe(stream_capacity);
        auto c = tether::spawn(std::move(opt));
        auto out = c.take_stdout();
        std::error_code ec;
        capacity = tether::pipe_capacity(out, ec);
        std::uint64_t got = read_all(out);
        PEER_REQUIRE(got == peer::stream_bytes, g_workload, "read %llu bytes, expected %llu",
                static_cast<unsigned long long>(got), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(c, "stream");
    });
}

// ---- forward: stream's stdout into drain's stdin with tether::forward (splice: the bytes never
// come through our memory), as SCHED_BATCH meanwhile.
double forward_once(const peer::args& a) {
    return peer::timed([&] {
        auto src_opt = options(stream_argv(a, peer::stream_bytes, peer::stream_chunk));
        src_opt.out = tether::stdio::pipe(forward_from_capacity);
        auto src = tether::spawn(std::move(src_opt));
        auto [ours, theirs] = tether::make_pipe(tether::direction::out, forward_to_capacity);
        auto dst_opt = options({a.child, "drain"});
        dst_opt.in = tether::stdio::from(std::move(theirs));
        auto dst = tether::spawn(std::move(dst_opt));
        std::uint64_t total = 0;
        {
            auto from = src.take_stdout();
            tether::forward_options fopt;
            fopt.batch_scheduling = true;
            total = tether::forward(from, ours, fopt);
            ours.reset();  // drain's end-of-file
        }
        PEER_REQUIRE(total == peer::stream_bytes, g_workload, "forwarded %llu bytes, expected %llu",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(src, "stream");
        wait_ok(dst, "drain");
    });
}

// ---- roundtrip: 1 byte to echo and back.
void roundtrip(const peer::args& a) {
    auto opt = options({a.child, "echo"});
    opt.in = tether::stdio::pipe();
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto in = c.take_stdin();
    auto out = c.take_stdout();
    peer::run(a, [&] {
        return peer::timed([&] {
            std::byte b{'x'};
            tether::write_all(in, std::span<const std::byte>(&b, 1));
            PEER_REQUIRE(tether::read(out, std::span<std::byte>(&b, 1)) == 1 && b == std::byte{'x'}, g_workload,
                    "echo did not answer");
        });
    });
    in.reset();
    PEER_REQUIRE(tether::read_to_end(out).empty(), g_workload, "echo wrote more than it was sent");
    wait_ok(c, "echo");
}

// ---- kill_eof: child::kill -> end-of-file on its stdout.
double kill_eof_once(const peer::args& a, long long& hangs) {
    auto opt = options({a.child, "sleep"});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    std::byte b{};
    PEER_REQUIRE(tether::read(out, std::span<std::byte>(&b, 1)) == 1 && b == std::byte{'r'}, g_workload,
            "no ready mark from sleep");
    auto t0 = peer::clock_type::now();
    c.kill();
    std::error_code ec;
    std::size_t n = tether::read_for(out, std::span<std::byte>(&b, 1), peer::hang_after, ec);
    if (ec == tether::errc::timed_out) {
        ++hangs;  // then wait for the end-of-file without limit: it must still come
        n = tether::read(out, std::span<std::byte>(&b, 1));
    } else if (ec) {
        peer::fail(g_workload, "read_for: %s", ec.message().c_str());
    }
    PEER_REQUIRE(n == 0, g_workload, "data after the ready mark");
    double us = peer::micros(peer::clock_type::now() - t0);
    auto st = c.wait();
    PEER_REQUIRE(st.signalled() && st.code == SIGKILL, g_workload, "sleep: %s", st.describe().c_str());
    return us;
}

// ---- threads: A streams 1 byte per child; B starts lingerers meanwhile.
class lingerers {
public:
    explicit lingerers(const peer::args& a) : child_(a.child), thread_([this] { loop(); }) {}
    lingerers(const lingerers&) = delete;
    lingerers& operator=(const lingerers&) = delete;
    ~lingerers() { stop(); }
    // Stops starting children, waits for those alive; returns how many were started.
    long long stop() {
        {
            std::lock_guard lk(m_);
            done_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
        return started_;
    }

private:
    void loop() {
        std::vector<tether::child> alive;
        std::unique_lock lk(m_);
        while (!done_) {
            lk.unlock();
            alive.push_back(tether::spawn(options({child_, "linger", std::to_string(peer::linger_ms)})));
            ++started_;
            std::erase_if(alive, [](tether::child& c) {
                auto st = c.try_wait();
                PEER_REQUIRE(!st || st->success(), g_workload, "linger: %s", st ? st->describe().c_str() : "");
                return st.has_value();
            });
            lk.lock();
            cv_.wait_for(lk, peer::threads_spawn_interval, [this] { return done_; });
        }
        lk.unlock();
        for (auto& c : alive) {
            wait_ok(c, "linger");
        }
    }

    std::string child_;
    std::mutex m_;
    std::condition_variable cv_;
    bool done_{false};
    long long started_{0};
    std::thread thread_;  // last: starts once everything above is constructed
};

double stream_one(const peer::args& a) {
    return peer::timed([&] {
        auto opt = options(stream_argv(a, 1, 1));
        opt.out = tether::stdio::pipe();
        auto c = tether::spawn(std::move(opt));
        PEER_REQUIRE(tether::take_stdout_text(c) == "x", g_workload, "A did not read its 1 byte");
        wait_ok(c, "stream 1 1");
    });
}

void threads(const peer::args& a) {
    long long delayed = 0;
    long long started = 0;
    {
        lingerers b(a);
        peer::run(a, [&] {
            double us = stream_one(a);
            if (us > std::chrono::duration<double, std::micro>(peer::delayed_after).count()) {
                ++delayed;
            }
            return us;
        });
        started = b.stop();
    }
    peer::info("delayed", delayed);
    peer::info("lingerers", started);
}

// ---- messages: 100,000 channel::send_more() of 64 bytes, then the child's 1-byte answer.
void messages(const peer::args& a) {
    auto [ch, theirs] = tether::make_channel();
    auto opt = options({tether::current_executable_path(), "channel-sink"});
    opt.pass(std::move(theirs), "control");
    auto c = tether::spawn(std::move(opt));
    std::vector<std::byte> msg(peer::message_size, std::byte{'m'});
    peer::run(a, [&] {
        return peer::timed([&] {
            for (std::size_t i = 0; i < peer::messages_per_iteration; ++i) {
                ch.send_more(msg);
            }
            auto ack = ch.receive(c);  // flushes what send_more() queued first
            PEER_REQUIRE(ack.is_data() && ack.text() == "a", g_workload, "no acknowledgement: %s",
                    ack.describe().c_str());
        });
    });
    ch.close();
    wait_ok(c, "channel-sink");
}

// The child side: counts 64-byte messages, answers "a" after every 100,000, ends at goodbye.
int channel_sink() {
    g_workload = "messages (channel-sink)";
    auto ch = tether::channel::inherited("control");
    std::size_t count = 0;
    tether::message m;  // reused: receive_into() allocates nothing per message
    for (;;) {
        ch.receive_into(m);
        if (m.is_goodbye()) {
            return 0;
        }
        PEER_REQUIRE(m.is_data(), g_workload, "%s", m.describe().c_str());
        PEER_REQUIRE(m.payload.size() == peer::message_size, g_workload, "a message of %zu bytes", m.payload.size());
        if (++count == peer::messages_per_iteration) {
            count = 0;
            ch.send("a");
        }
    }
}

// ---- children: 1,000 `exit` children, their exits observed by a tether::poller.
double children_once(const peer::args& a) {
    return peer::timed([&] {
        tether::poller loop;
        std::vector<tether::child> kids;
        kids.reserve(peer::children_per_iteration);  // the poller borrows: they must not move
        for (int i = 0; i < peer::children_per_iteration; ++i) {
            kids.push_back(tether::spawn(options({a.child, "exit"})));
            loop.add(kids.back(), static_cast<std::uint64_t>(i));
        }
        int seen = 0;
        std::vector<tether::poll_event> events;
        while (seen < peer::children_per_iteration) {
            loop.wait(events);
            for (auto& e : events) {
                PEER_REQUIRE(e.what == tether::poll_event::kind::exited && e.status && e.status->success(),
                        g_workload, "%s", e.describe().c_str());
                ++seen;
            }
        }
    });
}

int run_workload(const peer::args& a) {
    const std::string& w = a.workload;
    if (w == "spawn") {
        peer::run(a, spawn_true);
    } else if (w == "spawn_2g") {
        peer::touched_memory memory;
        peer::run(a, spawn_true);
    } else if (w == "spawn_fds") {
        peer::extra_descriptors extra;
        peer::run(a, spawn_true);
        peer::info("child_fds", child_fds(a));
    } else if (w == "stream") {
        std::size_t capacity = 0;
        peer::run(a, [&] { return stream_once(a, capacity); });
        peer::info("pipe_capacity", static_cast<long long>(capacity));
    } else if (w == "forward") {
        peer::run(a, [&] { return forward_once(a); });
    } else if (w == "roundtrip") {
        roundtrip(a);
    } else if (w == "kill_eof") {
        long long hangs = 0;
        peer::run(a, [&] { return kill_eof_once(a, hangs); });
        peer::info("hangs", hangs);
    } else if (w == "threads") {
        threads(a);
    } else if (w == "messages") {
        messages(a);
    } else if (w == "children") {
        peer::run(a, [&] { return children_once(a); }, peer::children_warmups);
    } else {
        peer::unknown_workload(a);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 2 && std::strcmp(argv[1], "channel-sink") == 0) {
            return channel_sink();
        }
        // As a program that writes to its children at a high rate would (and as Python and Asio
        // do for theirs): SIGPIPE ignored, so tether's writes skip their per-write guard. raw's
        // roundtrip prices that guard in its guarded_roundtrip_ns line.
        tether::ignore_sigpipe();
        auto a = peer::parse(argc, argv);
        g_workload = a.workload;
        return run_workload(a);
    } catch (const std::exception& e) {
        peer::fail(g_workload.empty() ? "peer_tether" : g_workload, "%s", e.what());
    }
}
