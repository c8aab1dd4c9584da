// peer_boost1 — Boost.Process 1.81, the v1 API (<boost/process.hpp>), in the peer benchmarks
// (bench/peers/PROTOCOL.md). Written as its documentation shows it: bp::child with bp::exe and
// bp::args; bp::ipstream / bp::opstream for a child's text-like stdio (roundtrip, messages, the
// 1-byte reads of `threads`); bp::pipe for the bulk byte streams (stream, forward: the pipe's own
// read()/write(), with the same 64 KiB buffer as raw); bp::async_pipe with Boost.Asio where a
// timeout is needed (kill_eof); bp::on_exit on an io_context for `children`.
//
// Measured as it is, not tuned: v1 starts children with fork() + execve(), makes its pipes with
// plain pipe() (not close-on-exec) and closes no inherited descriptor in the child;
// ipstream/opstream go through basic_pipebuf, which reads and writes in 1 KiB pieces
// (BOOST_PROCESS_PIPE_SIZE); bp::child::terminate() is SIGKILL followed by a blocking waitpid().
//
// Header-only: CMake sets BOOST_PROCESS_USE_STD_FS, so std::filesystem stands in for
// boost::filesystem (a compiled library this peer would otherwise need).
//
// usage: peer_boost1 WORKLOAD ITERATIONS CHILD
#include "peer_common.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process.hpp>

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <istream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <signal.h>

namespace {

namespace asio = boost::asio;
namespace bp = boost::process;
using peer::fail;

std::string g_workload;  // for messages; set once in main

std::vector<std::string> stream_args(std::uint64_t bytes, std::uint64_t chunk) {
    return {"stream", std::to_string(bytes), std::to_string(chunk)};
}

// Waits for `c` and fails unless it exited 0.
void wait_ok(bp::child& c, const char* what) {
    c.wait();
    PEER_REQUIRE(c.exit_code() == 0, g_workload, "%s exited with %d", what, c.exit_code());
}

// Reads an ipstream to end-of-file; returns the byte count.
std::uint64_t read_to_eof(std::istream& in) {
    static std::vector<char> buf(peer::read_size);
    std::uint64_t total = 0;
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
        total += static_cast<std::uint64_t>(in.gcount());
    }
    PEER_REQUIRE(!in.bad(), g_workload, "ipstream read failed");
    return total;
}

// bp::pipe::write is one write(); a partial write is continued.
void write_all(bp::pipe& to, const char* p, int n) {
    while (n > 0) {
        int w = to.write(p, n);
        p += w;
        n -= w;
    }
}

// ---- spawn, spawn_2g, spawn_fds
double spawn_true() {
    return peer::timed([] {
        bp::child c(bp::exe = "/bin/true");
        wait_ok(c, "/bin/true");
    });
}

long long child_fds(const peer::args& a) {
    bp::ipstream out;
    bp::child c(bp::exe = a.child, bp::args = {"fds"}, bp::std_out > out);
    std::string text;
    std::getline(out, text);
    wait_ok(c, "peer_child fds");
    long long n = peer::parse_count(text);
    PEER_REQUIRE(n >= 0, g_workload, "peer_child fds printed '%s'", text.c_str());
    return n;
}

// ---- stream: the child's stdout through bp::pipe::read with a 64 KiB buffer.
double stream_once(const peer::args& a) {
    return peer::timed([&] {
        bp::pipe out;
        bp::child c(bp::exe = a.child, bp::args = stream_args(peer::stream_bytes, peer::stream_chunk),
                    bp::std_out > out);
        static std::vector<char> buf(peer::read_size);
        std::uint64_t total = 0;
        while (int n = out.read(buf.data(), static_cast<int>(buf.size()))) {
            total += static_cast<std::uint64_t>(n);
        }
        PEER_REQUIRE(total == peer::stream_bytes, g_workload, "read %llu bytes, expected %llu",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(c, "stream");
    });
}

// ---- forward: stream's stdout copied by a bp::pipe read/write loop into `drain`'s stdin.
double forward_once(const peer::args& a) {
    return peer::timed([&] {
        bp::pipe from;
        bp::child src(bp::exe = a.child, bp::args = stream_args(peer::stream_bytes, peer::stream_chunk),
                      bp::std_out > from);
        bp::pipe to;  // made after src started, so src does not inherit it (v1 pipes are not CLOEXEC)
        bp::child dst(bp::exe = a.child, bp::args = {"drain"}, bp::std_in < to);
        static std::vector<char> buf(peer::read_size);
        std::uint64_t total = 0;
        while (int n = from.read(buf.data(), static_cast<int>(buf.size()))) {
            write_all(to, buf.data(), n);
            total += static_cast<std::uint64_t>(n);
        }
        to.close();
        PEER_REQUIRE(total == peer::stream_bytes, g_workload, "forwarded %llu bytes, expected %llu",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(src, "stream");
        wait_ok(dst, "drain");
    });
}

// ---- roundtrip: 1 byte to `echo` through an opstream, back through an ipstream.
void roundtrip(const peer::args& a) {
    bp::opstream in;
    bp::ipstream out;
    bp::child c(bp::exe = a.child, bp::args = {"echo"}, bp::std_in < in, bp::std_out > out);
    peer::run(a, [&] {
        return peer::timed([&] {
            char ch = 'x';
            in.put(ch).flush();
            PEER_REQUIRE(in.good() && out.get(ch) && ch == 'x', g_workload, "echo did not answer");
        });
    });
    // opstream::close() only flushes in 1.81; closing the pipe itself is what sends end-of-file.
    in.pipe().close();
    PEER_REQUIRE(read_to_eof(out) == 0, g_workload, "echo wrote more than it was sent");
    wait_ok(c, "echo");
}

// ---- kill_eof: terminate() (SIGKILL + waitpid) -> end-of-file on an async_pipe, 2 s timer.
double kill_eof_once(const peer::args& a, asio::io_context& io, long long& hangs) {
    bp::async_pipe out(io);
    bp::child c(bp::exe = a.child, bp::args = {"sleep"}, bp::std_out > out);
    char ch = 0;
    asio::read(out, asio::buffer(&ch, 1));
    PEER_REQUIRE(ch == 'r', g_workload, "no ready mark from sleep");
    auto t0 = peer::clock_type::now();
    c.terminate();
    auto t1 = t0;
    boost::system::error_code read_ec;
    std::size_t extra = 0;
    asio::steady_timer hang(io, peer::hang_after);
    out.async_read_some(asio::buffer(&ch, 1), [&](const boost::system::error_code& ec, std::size_t n) {
        t1 = peer::clock_type::now();
        read_ec = ec;
        extra = n;
        hang.cancel();
    });
    hang.async_wait([&](const boost::system::error_code& ec) {
        if (!ec) {
            ++hangs;  // the read stays pending: end-of-file must still come
        }
    });
    io.run();
    io.restart();
    PEER_REQUIRE(read_ec == asio::error::eof && extra == 0, g_workload, "no end-of-file after the kill (%s)",
            read_ec.message().c_str());
    PEER_REQUIRE(!c.running(), g_workload, "sleep still runs after terminate()");
    return peer::micros(t1 - t0);
}

// ---- threads: A reads 1 byte per child through an ipstream; B starts lingerers meanwhile.
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
        try {
            spawn_and_reap();
        } catch (const std::exception& e) {  // a throw must not end the thread silently
            fail(g_workload, "thread B: %s", e.what());
        }
    }

    void spawn_and_reap() {
        std::vector<bp::child> alive;
        std::unique_lock lk(m_);
        while (!done_) {
            lk.unlock();
            alive.emplace_back(bp::exe = child_, bp::args = {"linger", std::to_string(peer::linger_ms)});
            ++started_;
            std::erase_if(alive, [](bp::child& c) {
                if (c.running()) {  // waitpid(WNOHANG): reaps the ones that ended
                    return false;
                }
                PEER_REQUIRE(c.exit_code() == 0, g_workload, "linger exited with %d", c.exit_code());
                return true;
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

double stream_one_byte(const peer::args& a) {
    return peer::timed([&] {
        bp::ipstream out;
        bp::child c(bp::exe = a.child, bp::args = stream_args(1, 1), bp::std_out > out);
        PEER_REQUIRE(read_to_eof(out) == 1, g_workload, "A did not read 1 byte");
        wait_ok(c, "stream 1 1");
    });
}

void threads(const peer::args& a) {
    long long delayed = 0;
    long long started = 0;
    {
        lingerers b(a);
        peer::run(a, [&] {
            double us = stream_one_byte(a);
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

// ---- messages: 100,000 opstream::write()s of 64 bytes to `sink` (basic_pipebuf buffers them),
// one flush, then the 1-byte acknowledgement through an ipstream.
void messages(const peer::args& a) {
    bp::opstream in;
    bp::ipstream ack;
    bp::child c(bp::exe = a.child, bp::args = {"sink"}, bp::std_in < in, bp::std_out > ack);
    char msg[peer::message_size];
    std::memset(msg, 'm', sizeof msg);
    peer::run(a, [&] {
        return peer::timed([&] {
            for (std::size_t i = 0; i < peer::messages_per_iteration; ++i) {
                in.write(msg, sizeof msg);
            }
            in.flush();
            PEER_REQUIRE(in.good(), g_workload, "opstream write failed");
            char ch = 0;
            PEER_REQUIRE(ack.get(ch) && ch == 'a', g_workload, "no acknowledgement");
        });
    });
    in.pipe().close();
    PEER_REQUIRE(read_to_eof(ack) == 0, g_workload, "sink acknowledged too much");
    wait_ok(c, "sink");
    // The table's reader should know these writes were coalesced by the library, not the benchmark.
    peer::info("opstream_buffer_bytes", BOOST_PROCESS_PIPE_SIZE);
}

// ---- children: 1,000 `exit` children, their exits observed by bp::on_exit on one io_context
// (v1's SIGCHLD service: an asio::signal_set and a waitpid(WNOHANG) per child still waited for).
double children_once(const peer::args& a, asio::io_context& io) {
    return peer::timed([&] {
        std::vector<bp::child> kids;
        kids.reserve(peer::children_per_iteration);
        int seen = 0;
        for (int i = 0; i < peer::children_per_iteration; ++i) {
            kids.emplace_back(bp::exe = a.child, bp::args = {"exit"}, io,
                              bp::on_exit([&seen](int code, const std::error_code& ec) {
                                  PEER_REQUIRE(!ec && code == 0, g_workload, "exit child: code %d, %s", code,
                                          ec.message().c_str());
                                  ++seen;
                              }));
        }
        io.run();
        io.restart();
        PEER_REQUIRE(seen == peer::children_per_iteration, g_workload, "%d exits seen", seen);
    });
}

void run_workload(const peer::args& a) {
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
        peer::run(a, [&] { return stream_once(a); });
    } else if (w == "forward") {
        peer::run(a, [&] { return forward_once(a); });
    } else if (w == "roundtrip") {
        roundtrip(a);
    } else if (w == "kill_eof") {
        asio::io_context io;
        long long hangs = 0;
        peer::run(a, [&] { return kill_eof_once(a, io, hangs); });
        peer::info("hangs", hangs);
    } else if (w == "threads") {
        threads(a);
    } else if (w == "messages") {
        messages(a);
    } else if (w == "children") {
        asio::io_context io;
        peer::run(a, [&] { return children_once(a, io); }, peer::children_warmups);
    } else {
        peer::unknown_workload(a);
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto a = peer::parse(argc, argv);
    g_workload = a.workload;
    peer::catch_sigpipe();
    try {
        run_workload(a);
    } catch (const std::exception& e) {  // bp::process_error, boost::system::system_error
        fail(g_workload, "%s", e.what());
    }
    return 0;
}
