// peer_boost2 — Boost.Process 1.81, the v2 API (<boost/process/v2.hpp>), in the peer benchmarks
// (bench/peers/PROTOCOL.md). Written as its documentation shows it: v2::process on an
// asio::io_context, v2::process_stdio with asio::readable_pipe / asio::writable_pipe for the
// byte streams (read_some with the same 64 KiB buffer as raw, asio::write), v2::popen for the
// two-way children (roundtrip, messages: popen is itself the stream), process::async_wait for
// `children`, an asio::steady_timer for kill_eof's 2 s limit.
//
// Measured as it is, not tuned: v2's default_launcher is fork() + "close every descriptor but
// stdio" + execve(), and reports exec failure through a pipe; asio makes the pipes with pipe()
// and sets close-on-exec on the parent's end only; process handles are pidfds (pidfd_open), so
// async_wait is an epoll wait on the pidfd. The closing has a bug in 1.81
// (posix/detail/close_handles.ipp, the close_range variant: `next = whitelist[idx]` where
// idx + 1 was meant), so only the descriptors above the exec-error pipe are closed: the child
// keeps every inheritable descriptor below it, which spawn_fds (child_fds) and threads show.
//
// Header-only (the 1.81 default, BOOST_PROCESS_V2_HEADER_ONLY: no v2/src.hpp anywhere); CMake sets
// BOOST_PROCESS_USE_STD_FS, so std::filesystem stands in for the compiled boost::filesystem.
//
// usage: peer_boost2 WORKLOAD ITERATIONS CHILD
#include "peer_common.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>
// Boost 1.81's v2 headers under BOOST_PROCESS_USE_STD_FS: detail/config.hpp says `using
// boost::optional`, environment.hpp says `is_constructible` and `remove_pointer` (boost::)
// unqualified, and nothing on that path includes them (the boost::filesystem headers did).
#include <boost/optional.hpp>
#include <boost/type_traits.hpp>
#include <boost/process/v2.hpp>

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>

namespace {

namespace asio = boost::asio;
namespace bp2 = boost::process::v2;
using boost::system::error_code;
using peer::fail;
using argv_type = std::vector<std::string>;

std::string g_workload;  // for messages; set once in main

argv_type stream_args(std::uint64_t bytes, std::uint64_t chunk) {
    return {"stream", std::to_string(bytes), std::to_string(chunk)};
}

// Waits for `p` and fails unless it exited 0.
template <class Process>
void wait_ok(Process& p, const char* what) {
    int code = p.wait();
    PEER_REQUIRE(code == 0, g_workload, "%s exited with %d", what, code);
}

// Reads `from` (a readable_pipe or a popen) to end-of-file; returns the byte count.
template <class Stream>
std::uint64_t read_to_eof(Stream& from) {
    static std::vector<char> buf(peer::read_size);
    std::uint64_t total = 0;
    for (;;) {
        error_code ec;
        std::size_t n = from.read_some(asio::buffer(buf), ec);
        if (ec == asio::error::eof) {
            return total;
        }
        PEER_REQUIRE(!ec, g_workload, "read_some: %s", ec.message().c_str());
        total += n;
    }
}

// ---- spawn, spawn_2g, spawn_fds
double spawn_true(asio::io_context& io) {
    return peer::timed([&] {
        bp2::process p(io, "/bin/true", argv_type{});
        wait_ok(p, "/bin/true");
    });
}

long long child_fds(const peer::args& a, asio::io_context& io) {
    asio::readable_pipe out(io);
    bp2::process p(io, a.child, argv_type{"fds"}, bp2::process_stdio{.in = {}, .out = out, .err = {}});
    std::string text;
    error_code ec;
    asio::read(out, asio::dynamic_buffer(text), ec);
    PEER_REQUIRE(ec == asio::error::eof, g_workload, "reading fds: %s", ec.message().c_str());
    wait_ok(p, "peer_child fds");
    long long n = peer::parse_count(text);
    PEER_REQUIRE(n >= 0, g_workload, "peer_child fds printed '%s'", text.c_str());
    return n;
}

// ---- stream: the child's stdout through readable_pipe::read_some with a 64 KiB buffer.
double stream_once(const peer::args& a, asio::io_context& io) {
    return peer::timed([&] {
        asio::readable_pipe out(io);
        bp2::process p(io, a.child, stream_args(peer::stream_bytes, peer::stream_chunk),
                       bp2::process_stdio{.in = {}, .out = out, .err = {}});
        std::uint64_t got = read_to_eof(out);
        PEER_REQUIRE(got == peer::stream_bytes, g_workload, "read %llu bytes, expected %llu",
                static_cast<unsigned long long>(got), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(p, "stream");
    });
}

// ---- forward: stream's stdout copied by a read_some / asio::write loop into `drain`'s stdin.
double forward_once(const peer::args& a, asio::io_context& io) {
    return peer::timed([&] {
        asio::readable_pipe from(io);
        bp2::process src(io, a.child, stream_args(peer::stream_bytes, peer::stream_chunk),
                         bp2::process_stdio{.in = {}, .out = from, .err = {}});
        asio::writable_pipe to(io);
        bp2::process dst(io, a.child, argv_type{"drain"}, bp2::process_stdio{.in = to, .out = {}, .err = {}});
        static std::vector<char> buf(peer::read_size);
        std::uint64_t total = 0;
        for (;;) {
            error_code ec;
            std::size_t n = from.read_some(asio::buffer(buf), ec);
            if (ec == asio::error::eof) {
                break;
            }
            PEER_REQUIRE(!ec, g_workload, "read_some: %s", ec.message().c_str());
            asio::write(to, asio::buffer(buf.data(), n));
            total += n;
        }
        to.close();
        PEER_REQUIRE(total == peer::stream_bytes, g_workload, "forwarded %llu bytes, expected %llu",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(src, "stream");
        wait_ok(dst, "drain");
    });
}

// ---- roundtrip: 1 byte to `echo` and back through one v2::popen.
void roundtrip(const peer::args& a, asio::io_context& io) {
    bp2::popen p(io, a.child, argv_type{"echo"});
    peer::run(a, [&] {
        return peer::timed([&] {
            char ch = 'x';
            asio::write(p, asio::buffer(&ch, 1));
            asio::read(p, asio::buffer(&ch, 1));
            PEER_REQUIRE(ch == 'x', g_workload, "echo answered '%c'", ch);
        });
    });
    p.get_stdin().close();
    PEER_REQUIRE(read_to_eof(p) == 0, g_workload, "echo wrote more than it was sent");
    wait_ok(p, "echo");
}

// ---- kill_eof: terminate() (SIGKILL) -> end-of-file on a readable_pipe, 2 s timer.
double kill_eof_once(const peer::args& a, asio::io_context& io, long long& hangs) {
    asio::readable_pipe out(io);
    bp2::process p(io, a.child, argv_type{"sleep"}, bp2::process_stdio{.in = {}, .out = out, .err = {}});
    char ch = 0;
    asio::read(out, asio::buffer(&ch, 1));
    PEER_REQUIRE(ch == 'r', g_workload, "no ready mark from sleep");
    auto t0 = peer::clock_type::now();
    p.terminate();
    auto t1 = t0;
    error_code read_ec;
    std::size_t extra = 0;
    asio::steady_timer hang(io, peer::hang_after);
    out.async_read_some(asio::buffer(&ch, 1), [&](const error_code& ec, std::size_t n) {
        t1 = peer::clock_type::now();
        read_ec = ec;
        extra = n;
        hang.cancel();
    });
    hang.async_wait([&](const error_code& ec) {
        if (!ec) {
            ++hangs;  // the read stays pending: end-of-file must still come
        }
    });
    io.run();
    io.restart();
    PEER_REQUIRE(read_ec == asio::error::eof && extra == 0, g_workload, "no end-of-file after the kill (%s)",
            read_ec.message().c_str());
    p.wait();
    int status = p.native_exit_code();
    PEER_REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, g_workload, "sleep was not killed (0x%x)",
            status);
    return peer::micros(t1 - t0);
}

// ---- threads: A reads 1 byte per child through a readable_pipe; B starts lingerers meanwhile.
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
        asio::io_context io;  // B's own: the processes' executor (never run; reaped by running())
        std::vector<bp2::process> alive;
        std::unique_lock lk(m_);
        while (!done_) {
            lk.unlock();
            alive.emplace_back(io, child_, argv_type{"linger", std::to_string(peer::linger_ms)});
            ++started_;
            std::erase_if(alive, [](bp2::process& p) {
                if (p.running()) {  // waitpid(WNOHANG): reaps the ones that ended
                    return false;
                }
                PEER_REQUIRE(p.exit_code() == 0, g_workload, "linger exited with %d", p.exit_code());
                return true;
            });
            lk.lock();
            cv_.wait_for(lk, peer::threads_spawn_interval, [this] { return done_; });
        }
        lk.unlock();
        for (auto& p : alive) {
            wait_ok(p, "linger");
        }
    }

    std::string child_;
    std::mutex m_;
    std::condition_variable cv_;
    bool done_{false};
    long long started_{0};
    std::thread thread_;  // last: starts once everything above is constructed
};

double stream_one_byte(const peer::args& a, asio::io_context& io) {
    return peer::timed([&] {
        asio::readable_pipe out(io);
        bp2::process p(io, a.child, stream_args(1, 1), bp2::process_stdio{.in = {}, .out = out, .err = {}});
        PEER_REQUIRE(read_to_eof(out) == 1, g_workload, "A did not read 1 byte");
        wait_ok(p, "stream 1 1");
    });
}

void threads(const peer::args& a, asio::io_context& io) {
    long long delayed = 0;
    long long started = 0;
    {
        lingerers b(a);
        peer::run(a, [&] {
            double us = stream_one_byte(a, io);
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

// ---- messages: 100,000 asio::write()s of 64 bytes on a popen (one write() each), then the
// 1-byte acknowledgement.
void messages(const peer::args& a, asio::io_context& io) {
    bp2::popen p(io, a.child, argv_type{"sink"});
    char msg[peer::message_size];
    std::memset(msg, 'm', sizeof msg);
    peer::run(a, [&] {
        return peer::timed([&] {
            for (std::size_t i = 0; i < peer::messages_per_iteration; ++i) {
                asio::write(p, asio::buffer(msg));
            }
            char ch = 0;
            asio::read(p, asio::buffer(&ch, 1));
            PEER_REQUIRE(ch == 'a', g_workload, "no acknowledgement");
        });
    });
    p.get_stdin().close();
    PEER_REQUIRE(read_to_eof(p) == 0, g_workload, "sink acknowledged too much");
    wait_ok(p, "sink");
}

// ---- children: 1,000 `exit` children, their exits observed by process::async_wait on one
// io_context (epoll on each child's pidfd).
double children_once(const peer::args& a, asio::io_context& io) {
    return peer::timed([&] {
        std::deque<bp2::process> kids;  // a deque: async_wait holds a reference to each process
        int seen = 0;
        for (int i = 0; i < peer::children_per_iteration; ++i) {
            kids.emplace_back(io, a.child, argv_type{"exit"});
            kids.back().async_wait([&seen](const error_code& ec, int code) {
                PEER_REQUIRE(!ec && code == 0, g_workload, "exit child: code %d, %s", code, ec.message().c_str());
                ++seen;
            });
        }
        io.run();
        io.restart();
        PEER_REQUIRE(seen == peer::children_per_iteration, g_workload, "%d exits seen", seen);
    });
}

void run_workload(const peer::args& a) {
    asio::io_context io;
    const std::string& w = a.workload;
    if (w == "spawn") {
        peer::run(a, [&] { return spawn_true(io); });
    } else if (w == "spawn_2g") {
        peer::touched_memory memory;
        peer::run(a, [&] { return spawn_true(io); });
    } else if (w == "spawn_fds") {
        peer::extra_descriptors extra;
        peer::run(a, [&] { return spawn_true(io); });
        peer::info("child_fds", child_fds(a, io));
    } else if (w == "stream") {
        peer::run(a, [&] { return stream_once(a, io); });
    } else if (w == "forward") {
        peer::run(a, [&] { return forward_once(a, io); });
    } else if (w == "roundtrip") {
        roundtrip(a, io);
    } else if (w == "kill_eof") {
        long long hangs = 0;
        peer::run(a, [&] { return kill_eof_once(a, io, hangs); });
        peer::info("hangs", hangs);
    } else if (w == "threads") {
        threads(a, io);
    } else if (w == "messages") {
        messages(a, io);
    } else if (w == "children") {
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
    } catch (const std::exception& e) {  // boost::system::system_error from v2 and asio
        fail(g_workload, "%s", e.what());
    }
    return 0;
}
