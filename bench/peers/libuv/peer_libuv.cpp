// peer_libuv — libuv in the peer benchmarks (bench/peers/PROTOCOL.md). Written as libuv's guide
// shows it: uv_spawn with UV_CREATE_PIPE stdio containers, uv_read_start with an alloc callback
// (64 KiB, as raw reads), uv_write for every write, the exit_cb for every exit, uv_process_kill,
// uv_timer_t for timeouts and pacing, one uv_loop_t per thread, everything driven by uv_run.
//
// Measured as it is, not tuned: libuv 1.44 on Linux starts children with fork() + execve() and
// closes no inherited descriptor in the child; its "pipes" are socketpair(AF_UNIX, SOCK_STREAM)
// made close-on-exec; exits arrive through one SIGCHLD handler per loop that calls
// waitpid(WNOHANG) for each child the loop still knows.
//
// usage: peer_libuv WORKLOAD ITERATIONS CHILD
#include "peer_common.hpp"

#include <uv.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>

namespace {

using peer::fail;

std::string g_workload;  // for messages; set once in main

void check(int rc, const char* what) {
    if (rc < 0) {
        fail(g_workload, "%s: %s", what, uv_strerror(rc));
    }
}

template <class T>
uv_handle_t* as_handle(T* h) {
    return reinterpret_cast<uv_handle_t*>(h);
}
template <class T>
uv_stream_t* as_stream(T* h) {
    return reinterpret_cast<uv_stream_t*>(h);
}

// ---- Owners: a loop, a child, the stdio containers.

/// A uv_loop_t; the destructor runs it until every handle is closed, then closes it.
class loop {
public:
    loop() { check(uv_loop_init(&l_), "uv_loop_init"); }
    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;
    ~loop() {
        uv_run(&l_, UV_RUN_DEFAULT);
        if (uv_loop_close(&l_) != 0) {
            fail(g_workload, "uv_loop_close: handles still open");
        }
    }
    uv_loop_t* get() { return &l_; }
    /// Runs one iteration at a time until `done()` holds; fails if the loop runs out of handles
    /// and requests first (e.g. the child closed its end early), rather than spinning.
    template <class Done>
    void run_until(Done done) {
        while (!done()) {
            if (uv_run(&l_, UV_RUN_ONCE) == 0 && !done()) {
                fail(g_workload, "the loop has nothing left to wait for (did the child end early?)");
            }
        }
    }

private:
    uv_loop_t l_{};
};

/// One child: its process handle and how it ended. exit_cb closes the handle, so a child is done
/// once `closed`; it must outlive its handle (uv_run until then).
struct child {
    uv_process_t proc{};
    bool exited{false};
    bool closed{false};
    std::int64_t status{-1};
    int term_signal{0};
};

void on_child_closed(uv_handle_t* h) { static_cast<child*>(h->data)->closed = true; }

void on_child_exit(uv_process_t* p, std::int64_t status, int term_signal) {
    auto* c = static_cast<child*>(p->data);
    c->exited = true;
    c->status = status;
    c->term_signal = term_signal;
    uv_close(as_handle(p), on_child_closed);
}

uv_stdio_container_t inherit(int fd) {
    uv_stdio_container_t s{};
    s.flags = UV_INHERIT_FD;
    s.data.fd = fd;
    return s;
}
/// A pipe the child writes (its stdout); flags are from the child's side.
uv_stdio_container_t child_writes(uv_pipe_t* p) {
    uv_stdio_container_t s{};
    s.flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    s.data.stream = as_stream(p);
    return s;
}
/// A pipe the child reads (its stdin).
uv_stdio_container_t child_reads(uv_pipe_t* p) {
    uv_stdio_container_t s{};
    s.flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    s.data.stream = as_stream(p);
    return s;
}

struct stdio3 {
    uv_stdio_container_t fd[3]{inherit(0), inherit(1), inherit(2)};
};

void spawn(uv_loop_t* l, child& c, std::vector<std::string> argv, stdio3 stdio = {},
           uv_exit_cb on_exit = on_child_exit) {
    std::vector<char*> av;
    for (auto& s : argv) {
        av.push_back(s.data());
    }
    av.push_back(nullptr);
    uv_process_options_t o{};
    o.exit_cb = on_exit;
    o.file = av[0];
    o.args = av.data();
    o.stdio_count = 3;
    o.stdio = stdio.fd;
    c.proc.data = &c;
    int rc = uv_spawn(l, &c.proc, &o);
    if (rc < 0) {
        fail(g_workload, "uv_spawn %s: %s", av[0], uv_strerror(rc));
    }
}

void require_ok(const child& c, const char* what) {
    PEER_REQUIRE(c.exited && c.status == 0 && c.term_signal == 0, g_workload, "%s: exit %lld, signal %d", what,
            static_cast<long long>(c.status), c.term_signal);
}

std::vector<std::string> stream_argv(const peer::args& a, std::uint64_t bytes, std::uint64_t chunk) {
    return {a.child, "stream", std::to_string(bytes), std::to_string(chunk)};
}

// ---- Reading a child's stdout to end-of-file with one reused 64 KiB buffer.
struct reader {
    uv_pipe_t pipe{};
    std::uint64_t total{0};
    std::string* text{nullptr};  ///< if set, the bytes are kept here
    bool eof{false};
    bool closed{false};
};

void alloc_shared(uv_handle_t*, std::size_t, uv_buf_t* b) {
    static std::vector<char> buf(peer::read_size);
    *b = uv_buf_init(buf.data(), static_cast<unsigned>(buf.size()));
}

void on_reader_closed(uv_handle_t* h) { static_cast<reader*>(h->data)->closed = true; }

void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* r = static_cast<reader*>(s->data);
    if (n > 0) {
        r->total += static_cast<std::uint64_t>(n);
        if (r->text != nullptr) {
            r->text->append(b->base, static_cast<std::size_t>(n));
        }
    } else if (n == UV_EOF) {
        r->eof = true;
        uv_close(as_handle(s), on_reader_closed);
    } else if (n < 0) {
        fail(g_workload, "read: %s", uv_strerror(static_cast<int>(n)));
    }
}

/// Spawns argv with stdout a pipe, reads it to end-of-file, waits; returns the byte count.
std::uint64_t read_child(loop& l, std::vector<std::string> argv, std::string* text = nullptr) {
    reader r;
    r.text = text;
    check(uv_pipe_init(l.get(), &r.pipe, 0), "uv_pipe_init");
    r.pipe.data = &r;
    child c;
    stdio3 io;
    io.fd[1] = child_writes(&r.pipe);
    spawn(l.get(), c, std::move(argv), io);
    check(uv_read_start(as_stream(&r.pipe), alloc_shared, on_read), "uv_read_start");
    uv_run(l.get(), UV_RUN_DEFAULT);  // until the pipe and the process handle are closed
    PEER_REQUIRE(r.eof && r.closed && c.closed, g_workload, "loop ended before end-of-file and exit");
    require_ok(c, "child");
    return r.total;
}

// ---- spawn, spawn_2g, spawn_fds
double spawn_true(loop& l) {
    return peer::timed([&] {
        child c;
        spawn(l.get(), c, {"/bin/true"});
        uv_run(l.get(), UV_RUN_DEFAULT);
        require_ok(c, "/bin/true");
    });
}

long long child_fds(const peer::args& a, loop& l) {
    std::string text;
    read_child(l, {a.child, "fds"}, &text);
    long long n = peer::parse_count(text);
    PEER_REQUIRE(n >= 0, g_workload, "peer_child fds printed '%s'", text.c_str());
    return n;
}

// ---- stream
double stream_once(const peer::args& a, loop& l) {
    return peer::timed([&] {
        std::uint64_t got = read_child(l, stream_argv(a, peer::stream_bytes, peer::stream_chunk));
        PEER_REQUIRE(got == peer::stream_bytes, g_workload, "read %llu bytes, expected %llu",
                static_cast<unsigned long long>(got), static_cast<unsigned long long>(peer::stream_bytes));
    });
}

// ---- forward: each read is handed to uv_write (its buffer travels with the write request);
// reading stops while more than 1 MiB waits to be written and resumes below 256 KiB.
class forwarder {
public:
    static constexpr std::size_t high_water = std::size_t{1} << 20;
    static constexpr std::size_t low_water = std::size_t{256} << 10;

    explicit forwarder(uv_loop_t* l) {
        check(uv_pipe_init(l, &from, 0), "uv_pipe_init");
        check(uv_pipe_init(l, &to, 0), "uv_pipe_init");
        from.data = this;
        to.data = this;
    }
    forwarder(const forwarder&) = delete;
    forwarder& operator=(const forwarder&) = delete;

    void start() { check(uv_read_start(as_stream(&from), on_alloc, on_read), "uv_read_start"); }

    uv_pipe_t from{};
    uv_pipe_t to{};
    std::uint64_t total{0};
    bool done{false};  ///< end-of-file read, every write finished, `to` shut down

private:
    struct write_op {
        uv_write_t req{};
        forwarder* owner{nullptr};
        std::unique_ptr<char[]> data;
    };

    static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* b) {
        auto* f = static_cast<forwarder*>(h->data);
        std::unique_ptr<char[]> p;
        if (f->pool_.empty()) {
            p = std::make_unique<char[]>(peer::read_size);
        } else {
            p = std::move(f->pool_.back());
            f->pool_.pop_back();
        }
        *b = uv_buf_init(p.release(), static_cast<unsigned>(peer::read_size));
    }

    static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        auto* f = static_cast<forwarder*>(s->data);
        std::unique_ptr<char[]> data(b->base);  // ours again, whatever the outcome
        if (n > 0) {
            f->write(std::move(data), static_cast<std::size_t>(n));
            return;
        }
        if (data) {
            f->pool_.push_back(std::move(data));
        }
        if (n == UV_EOF) {
            uv_close(as_handle(&f->from), nullptr);
            check(uv_shutdown(&f->shutdown_, as_stream(&f->to), on_shutdown), "uv_shutdown");
        } else if (n < 0) {
            fail(g_workload, "read: %s", uv_strerror(static_cast<int>(n)));
        }
    }

    void write(std::unique_ptr<char[]> data, std::size_t n) {
        auto* op = new write_op;  // freed by on_written
        op->req.data = op;
        op->owner = this;
        op->data = std::move(data);
        uv_buf_t b = uv_buf_init(op->data.get(), static_cast<unsigned>(n));
        check(uv_write(&op->req, as_stream(&to), &b, 1, on_written), "uv_write");
        total += n;
        if (to.write_queue_size > high_water) {
            check(uv_read_stop(as_stream(&from)), "uv_read_stop");
            paused_ = true;
        }
    }

    static void on_written(uv_write_t* req, int status) {
        std::unique_ptr<write_op> op(static_cast<write_op*>(req->data));
        forwarder* f = op->owner;
        check(status, "uv_write");
        f->pool_.push_back(std::move(op->data));
        if (f->paused_ && f->to.write_queue_size < low_water) {
            f->paused_ = false;
            f->start();
        }
    }

    static void on_shutdown(uv_shutdown_t* req, int status) {
        auto* f = static_cast<forwarder*>(req->handle->data);
        check(status, "uv_shutdown");
        uv_close(as_handle(&f->to), nullptr);
        f->done = true;
    }

    std::vector<std::unique_ptr<char[]>> pool_;
    uv_shutdown_t shutdown_{};
    bool paused_{false};
};

double forward_once(const peer::args& a, loop& l) {
    return peer::timed([&] {
        forwarder f(l.get());
        child src;
        child dst;
        stdio3 src_io;
        src_io.fd[1] = child_writes(&f.from);
        spawn(l.get(), src, stream_argv(a, peer::stream_bytes, peer::stream_chunk), src_io);
        stdio3 dst_io;
        dst_io.fd[0] = child_reads(&f.to);
        spawn(l.get(), dst, {a.child, "drain"}, dst_io);
        f.start();
        uv_run(l.get(), UV_RUN_DEFAULT);
        PEER_REQUIRE(f.done, g_workload, "loop ended before the forward did");
        PEER_REQUIRE(f.total == peer::stream_bytes, g_workload, "forwarded %llu bytes, expected %llu",
                static_cast<unsigned long long>(f.total), static_cast<unsigned long long>(peer::stream_bytes));
        require_ok(src, "stream");
        require_ok(dst, "drain");
    });
}

// ---- roundtrip: uv_write 1 byte to `echo`, run the loop until the read callback has it back.
struct echo_state {
    uv_pipe_t in{};
    uv_pipe_t out{};
    uv_write_t req{};
    bool written{false};
    bool got{false};
    std::uint64_t extra{0};
    bool eof{false};
};

void on_echo_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* e = static_cast<echo_state*>(s->data);
    if (n == 1 && !e->got && b->base[0] == 'x') {
        e->got = true;
    } else if (n > 0) {
        e->extra += static_cast<std::uint64_t>(n);
    } else if (n == UV_EOF) {
        e->eof = true;
        uv_close(as_handle(s), nullptr);
    } else if (n < 0) {
        fail(g_workload, "read: %s", uv_strerror(static_cast<int>(n)));
    }
}

void roundtrip(const peer::args& a, loop& l) {
    echo_state e;
    check(uv_pipe_init(l.get(), &e.in, 0), "uv_pipe_init");
    check(uv_pipe_init(l.get(), &e.out, 0), "uv_pipe_init");
    e.in.data = &e;
    e.out.data = &e;
    e.req.data = &e;
    child c;
    stdio3 io;
    io.fd[0] = child_reads(&e.in);
    io.fd[1] = child_writes(&e.out);
    spawn(l.get(), c, {a.child, "echo"}, io);
    check(uv_read_start(as_stream(&e.out), alloc_shared, on_echo_read), "uv_read_start");
    static char byte = 'x';
    peer::run(a, [&] {
        return peer::timed([&] {
            e.written = e.got = false;
            uv_buf_t b = uv_buf_init(&byte, 1);
            check(uv_write(&e.req, as_stream(&e.in), &b, 1,
                           [](uv_write_t* req, int status) {
                               check(status, "uv_write");
                               static_cast<echo_state*>(req->data)->written = true;
                           }),
                  "uv_write");
            l.run_until([&] { return e.got && e.written; });  // the request is reused next time
        });
    });
    uv_close(as_handle(&e.in), nullptr);  // echo's end-of-file
    uv_run(l.get(), UV_RUN_DEFAULT);
    PEER_REQUIRE(e.eof && e.extra == 0, g_workload, "echo wrote %llu bytes more than it was sent",
            static_cast<unsigned long long>(e.extra));
    require_ok(c, "echo");
}

// ---- kill_eof: uv_process_kill(SIGKILL) -> UV_EOF in the read callback; a 2 s uv_timer_t.
struct kill_state {
    uv_pipe_t out{};
    uv_timer_t hang{};
    bool ready{false};
    bool eof{false};
    std::uint64_t extra{0};
    peer::clock_type::time_point eof_at{};
    long long* hangs{nullptr};
};

void on_kill_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* k = static_cast<kill_state*>(s->data);
    if (n == 1 && !k->ready && b->base[0] == 'r') {
        k->ready = true;
    } else if (n > 0) {
        k->extra += static_cast<std::uint64_t>(n);
    } else if (n == UV_EOF) {
        k->eof_at = peer::clock_type::now();
        k->eof = true;
        uv_close(as_handle(s), nullptr);
        uv_close(as_handle(&k->hang), nullptr);  // closing stops it
    } else if (n < 0) {
        fail(g_workload, "read: %s", uv_strerror(static_cast<int>(n)));
    }
}

double kill_eof_once(const peer::args& a, loop& l, long long& hangs) {
    kill_state k;
    k.hangs = &hangs;
    check(uv_pipe_init(l.get(), &k.out, 0), "uv_pipe_init");
    check(uv_timer_init(l.get(), &k.hang), "uv_timer_init");
    k.out.data = &k;
    k.hang.data = &k;
    child c;
    stdio3 io;
    io.fd[1] = child_writes(&k.out);
    spawn(l.get(), c, {a.child, "sleep"}, io);
    check(uv_read_start(as_stream(&k.out), alloc_shared, on_kill_read), "uv_read_start");
    l.run_until([&] { return k.ready || k.eof; });
    PEER_REQUIRE(k.ready, g_workload, "no ready mark from sleep");
    auto t0 = peer::clock_type::now();
    check(uv_process_kill(&c.proc, SIGKILL), "uv_process_kill");
    check(uv_timer_start(
              &k.hang, [](uv_timer_t* t) { ++*static_cast<kill_state*>(t->data)->hangs; },
              static_cast<std::uint64_t>(peer::hang_after.count()), 0),
          "uv_timer_start");
    uv_run(l.get(), UV_RUN_DEFAULT);  // until the pipe, the timer and the process are closed
    PEER_REQUIRE(k.eof && k.extra == 0, g_workload, "no clean end-of-file after the kill");
    PEER_REQUIRE(c.exited && c.term_signal == SIGKILL, g_workload, "sleep was not killed (signal %d)", c.term_signal);
    return peer::micros(k.eof_at - t0);
}

// ---- threads: A (this thread, its own loop) reads 1 byte per child; B, a second thread with
// its own loop, starts a lingerer every 10 ms from a uv_timer_t and reaps them in exit_cb.
class lingerers {
public:
    explicit lingerers(const peer::args& a) : child_(a.child) {
        check(uv_timer_init(loop_.get(), &tick_), "uv_timer_init");
        check(uv_async_init(loop_.get(), &stop_, on_stop), "uv_async_init");
        tick_.data = this;
        stop_.data = this;
        check(uv_timer_start(&tick_, on_tick, 0, static_cast<std::uint64_t>(peer::threads_spawn_interval.count())),
              "uv_timer_start");
        thread_ = std::thread([this] { uv_run(loop_.get(), UV_RUN_DEFAULT); });
    }
    lingerers(const lingerers&) = delete;
    lingerers& operator=(const lingerers&) = delete;
    ~lingerers() { stop(); }
    // Stops starting children; B's loop ends once every lingerer has exited. Returns how many
    // were started.
    long long stop() {
        if (thread_.joinable()) {
            check(uv_async_send(&stop_), "uv_async_send");
            thread_.join();
        }
        return started_;
    }

private:
    static void on_tick(uv_timer_t* t) {
        auto* self = static_cast<lingerers*>(t->data);
        auto* c = new child;  // freed by its close callback, once it has ended
        spawn(self->loop_.get(), *c, {self->child_, "linger", std::to_string(peer::linger_ms)}, {},
              on_linger_exit);
        ++self->started_;
    }
    static void on_linger_exit(uv_process_t* p, std::int64_t status, int term_signal) {
        PEER_REQUIRE(status == 0 && term_signal == 0, g_workload, "linger: exit %lld, signal %d",
                static_cast<long long>(status), term_signal);
        uv_close(as_handle(p), [](uv_handle_t* h) { delete static_cast<child*>(h->data); });
    }
    static void on_stop(uv_async_t* s) {
        auto* self = static_cast<lingerers*>(s->data);
        uv_close(as_handle(&self->tick_), nullptr);
        uv_close(as_handle(&self->stop_), nullptr);
    }

    std::string child_;
    loop loop_;  // B's; destroyed after the thread is joined
    uv_timer_t tick_{};
    uv_async_t stop_{};
    long long started_{0};
    std::thread thread_;
};

void threads(const peer::args& a, loop& l) {
    long long delayed = 0;
    long long started = 0;
    {
        lingerers b(a);
        peer::run(a, [&] {
            double us = peer::timed([&] {
                PEER_REQUIRE(read_child(l, stream_argv(a, 1, 1)) == 1, g_workload, "A did not read 1 byte");
            });
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

// ---- messages: one uv_write per 64-byte message (100,000 requests, reused each iteration),
// then the loop runs until every write has completed and `sink` has acknowledged.
struct sink_state {
    uv_pipe_t in{};
    uv_pipe_t ack{};
    std::vector<uv_write_t> reqs{std::vector<uv_write_t>(peer::messages_per_iteration)};
    std::size_t written{0};
    std::uint64_t acks{0};
    std::uint64_t junk{0};
    bool eof{false};
};

void on_ack_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* k = static_cast<sink_state*>(s->data);
    for (ssize_t i = 0; i < n; ++i) {
        (b->base[i] == 'a' ? k->acks : k->junk) += 1;
    }
    if (n == UV_EOF) {
        k->eof = true;
        uv_close(as_handle(s), nullptr);
    } else if (n < 0) {
        fail(g_workload, "read: %s", uv_strerror(static_cast<int>(n)));
    }
}

void messages(const peer::args& a, loop& l) {
    sink_state k;
    check(uv_pipe_init(l.get(), &k.in, 0), "uv_pipe_init");
    check(uv_pipe_init(l.get(), &k.ack, 0), "uv_pipe_init");
    k.in.data = &k;
    k.ack.data = &k;
    child c;
    stdio3 io;
    io.fd[0] = child_reads(&k.in);
    io.fd[1] = child_writes(&k.ack);
    spawn(l.get(), c, {a.child, "sink"}, io);
    check(uv_read_start(as_stream(&k.ack), alloc_shared, on_ack_read), "uv_read_start");
    static char msg[peer::message_size];
    std::memset(msg, 'm', sizeof msg);
    std::uint64_t iteration = 0;
    peer::run(a, [&] {
        return peer::timed([&] {
            k.written = 0;
            for (auto& req : k.reqs) {
                req.data = &k;
                uv_buf_t b = uv_buf_init(msg, sizeof msg);
                check(uv_write(&req, as_stream(&k.in), &b, 1,
                               [](uv_write_t* r, int status) {
                                   check(status, "uv_write");
                                   ++static_cast<sink_state*>(r->data)->written;
                               }),
                      "uv_write");
            }
            ++iteration;
            l.run_until([&] { return k.written == k.reqs.size() && k.acks == iteration; });
        });
    });
    uv_close(as_handle(&k.in), nullptr);
    uv_run(l.get(), UV_RUN_DEFAULT);
    PEER_REQUIRE(k.eof && k.acks == iteration && k.junk == 0, g_workload, "sink acknowledged %llu times for %llu",
            static_cast<unsigned long long>(k.acks), static_cast<unsigned long long>(iteration));
    require_ok(c, "sink");
}

// ---- children: 1,000 `exit` children, their exits observed by exit_cb on one loop.
double children_once(const peer::args& a, loop& l) {
    return peer::timed([&] {
        std::vector<child> kids(peer::children_per_iteration);
        for (auto& c : kids) {
            spawn(l.get(), c, {a.child, "exit"});
        }
        uv_run(l.get(), UV_RUN_DEFAULT);
        for (const auto& c : kids) {
            require_ok(c, "exit child");
        }
    });
}

}  // namespace

int main(int argc, char** argv) {
    auto a = peer::parse(argc, argv);
    g_workload = a.workload;
    peer::catch_sigpipe();
    loop l;
    const std::string& w = a.workload;
    if (w == "spawn") {
        peer::run(a, [&] { return spawn_true(l); });
    } else if (w == "spawn_2g") {
        peer::touched_memory memory;
        peer::run(a, [&] { return spawn_true(l); });
    } else if (w == "spawn_fds") {
        peer::extra_descriptors extra;
        peer::run(a, [&] { return spawn_true(l); });
        peer::info("child_fds", child_fds(a, l));
    } else if (w == "stream") {
        peer::run(a, [&] { return stream_once(a, l); });
    } else if (w == "forward") {
        peer::run(a, [&] { return forward_once(a, l); });
    } else if (w == "roundtrip") {
        roundtrip(a, l);
    } else if (w == "kill_eof") {
        long long hangs = 0;
        peer::run(a, [&] { return kill_eof_once(a, l, hangs); });
        peer::info("hangs", hangs);
    } else if (w == "threads") {
        threads(a, l);
    } else if (w == "messages") {
        messages(a, l);
    } else if (w == "children") {
        peer::run(a, [&] { return children_once(a, l); }, peer::children_warmups);
    } else {
        peer::unknown_workload(a);
    }
    return 0;
}
