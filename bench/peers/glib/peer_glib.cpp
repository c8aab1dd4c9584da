// peer_glib — GLib's GSubprocess (GIO) in the peer benchmarks (bench/peers/PROTOCOL.md). Written as
// the GIO documentation shows it: g_subprocess_newv with G_SUBPROCESS_FLAGS_STDIN_PIPE /
// STDOUT_PIPE, g_input_stream_read (64 KiB, as raw reads) and g_output_stream_write_all on the
// pipes GSubprocess hands out, g_subprocess_wait_check, g_subprocess_force_exit; where an event
// loop belongs (kill_eof's 2 s limit, `children`, thread B of `threads`) a GMainLoop with
// g_input_stream_read_async, g_subprocess_wait_check_async and timeout sources.
//
// Measured as it is, not tuned: GSubprocess spawns through gspawn (fork or posix_spawn, GLib's
// choice), closes every descriptor but stdio in the child, makes its pipes close-on-exec, and
// learns of exits through a child watch in GLib's worker thread; the synchronous
// g_subprocess_wait runs a private main context until that watch reports.
//
// usage: peer_glib WORKLOAD ITERATIONS CHILD
#include "peer_common.hpp"

#include <gio/gio.h>

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

// ---- Owners: a GObject reference, a GError, a GMainLoop.
struct unref_object {
    void operator()(gpointer p) const { g_object_unref(p); }
};
using subprocess = std::unique_ptr<GSubprocess, unref_object>;

/// A GError out-parameter that frees what it receives.
class gerror {
public:
    gerror() = default;
    gerror(const gerror&) = delete;
    gerror& operator=(const gerror&) = delete;
    ~gerror() {
        if (e_ != nullptr) {
            g_error_free(e_);
        }
    }
    GError** out() { return &e_; }
    /// Fails the workload with `what` and the error's message unless `ok`.
    void check(bool ok, const char* what) const {
        if (!ok) {
            fail(g_workload, "%s: %s", what, e_ != nullptr ? e_->message : "failed without a GError");
        }
    }

private:
    GError* e_{nullptr};
};

struct unref_loop {
    void operator()(GMainLoop* l) const { g_main_loop_unref(l); }
};
using main_loop = std::unique_ptr<GMainLoop, unref_loop>;

struct unref_source {
    void operator()(GSource* s) const {
        g_source_destroy(s);  // a no-op for a source already removed
        g_source_unref(s);
    }
};
using source = std::unique_ptr<GSource, unref_source>;

GSubprocessFlags operator|(GSubprocessFlags a, GSubprocessFlags b) {
    return static_cast<GSubprocessFlags>(static_cast<int>(a) | static_cast<int>(b));
}

subprocess launch(const std::vector<std::string>& argv, GSubprocessFlags flags = G_SUBPROCESS_FLAGS_NONE) {
    std::vector<const gchar*> av;
    for (const auto& s : argv) {
        av.push_back(s.c_str());
    }
    av.push_back(nullptr);
    gerror err;
    subprocess p(g_subprocess_newv(av.data(), flags, err.out()));
    err.check(p != nullptr, argv[0].c_str());
    return p;
}

/// g_subprocess_wait_check: fails unless the child exited 0.
void wait_ok(GSubprocess* p, const char* what) {
    gerror err;
    err.check(g_subprocess_wait_check(p, nullptr, err.out()) != FALSE, what);
}

std::size_t read_some(GInputStream* in, void* buf, std::size_t n) {
    gerror err;
    gssize r = g_input_stream_read(in, buf, n, nullptr, err.out());
    err.check(r >= 0, "g_input_stream_read");
    return static_cast<std::size_t>(r);
}

void write_all(GOutputStream* out, const void* buf, std::size_t n) {
    gerror err;
    gsize written = 0;
    err.check(g_output_stream_write_all(out, buf, n, &written, nullptr, err.out()) != FALSE,
              "g_output_stream_write_all");
}

void close_stream(GOutputStream* out) {
    gerror err;
    err.check(g_output_stream_close(out, nullptr, err.out()) != FALSE, "g_output_stream_close");
}

/// Reads `in` to end-of-file with a 64 KiB buffer; returns the byte count (and keeps the bytes in
/// `text` if given).
std::uint64_t read_to_eof(GInputStream* in, std::string* text = nullptr) {
    static std::vector<char> buf(peer::read_size);
    std::uint64_t total = 0;
    while (std::size_t n = read_some(in, buf.data(), buf.size())) {
        total += n;
        if (text != nullptr) {
            text->append(buf.data(), n);
        }
    }
    return total;
}

std::vector<std::string> stream_argv(const peer::args& a, std::uint64_t bytes, std::uint64_t chunk) {
    return {a.child, "stream", std::to_string(bytes), std::to_string(chunk)};
}

// ---- spawn, spawn_2g, spawn_fds
double spawn_true() {
    return peer::timed([] {
        auto p = launch({"/bin/true"});
        wait_ok(p.get(), "/bin/true");
    });
}

long long child_fds(const peer::args& a) {
    auto p = launch({a.child, "fds"}, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    std::string text;
    read_to_eof(g_subprocess_get_stdout_pipe(p.get()), &text);
    wait_ok(p.get(), "peer_child fds");
    long long n = peer::parse_count(text);
    PEER_REQUIRE(n >= 0, g_workload, "peer_child fds printed '%s'", text.c_str());
    return n;
}

// ---- stream: the child's stdout through g_input_stream_read with a 64 KiB buffer.
double stream_once(const peer::args& a) {
    return peer::timed([&] {
        auto p = launch(stream_argv(a, peer::stream_bytes, peer::stream_chunk), G_SUBPROCESS_FLAGS_STDOUT_PIPE);
        std::uint64_t got = read_to_eof(g_subprocess_get_stdout_pipe(p.get()));
        PEER_REQUIRE(got == peer::stream_bytes, g_workload, "read %llu bytes, expected %llu",
                static_cast<unsigned long long>(got), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(p.get(), "stream");
    });
}

// ---- forward: stream's stdout copied by a read / write_all loop into `drain`'s stdin.
double forward_once(const peer::args& a) {
    return peer::timed([&] {
        auto src = launch(stream_argv(a, peer::stream_bytes, peer::stream_chunk), G_SUBPROCESS_FLAGS_STDOUT_PIPE);
        auto dst = launch({a.child, "drain"}, G_SUBPROCESS_FLAGS_STDIN_PIPE);
        GInputStream* from = g_subprocess_get_stdout_pipe(src.get());
        GOutputStream* to = g_subprocess_get_stdin_pipe(dst.get());
        static std::vector<char> buf(peer::read_size);
        std::uint64_t total = 0;
        while (std::size_t n = read_some(from, buf.data(), buf.size())) {
            write_all(to, buf.data(), n);
            total += n;
        }
        close_stream(to);
        PEER_REQUIRE(total == peer::stream_bytes, g_workload, "forwarded %llu bytes, expected %llu",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(peer::stream_bytes));
        wait_ok(src.get(), "stream");
        wait_ok(dst.get(), "drain");
    });
}

// ---- roundtrip: 1 byte to `echo` through its stdin pipe, back through its stdout pipe.
void roundtrip(const peer::args& a) {
    auto p = launch({a.child, "echo"}, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    GOutputStream* in = g_subprocess_get_stdin_pipe(p.get());
    GInputStream* out = g_subprocess_get_stdout_pipe(p.get());
    peer::run(a, [&] {
        return peer::timed([&] {
            char ch = 'x';
            write_all(in, &ch, 1);
            PEER_REQUIRE(read_some(out, &ch, 1) == 1 && ch == 'x', g_workload, "echo did not answer");
        });
    });
    close_stream(in);
    PEER_REQUIRE(read_to_eof(out) == 0, g_workload, "echo wrote more than it was sent");
    wait_ok(p.get(), "echo");
}

// ---- kill_eof: g_subprocess_force_exit (SIGKILL) -> end-of-file from g_input_stream_read_async,
// on a GMainLoop with a 2 s timeout source beside it.
struct eof_wait {
    GMainLoop* loop{nullptr};
    GInputStream* in{nullptr};
    gssize n{-1};
    peer::clock_type::time_point at{};
    long long* hangs{nullptr};
};

void on_eof_read(GObject*, GAsyncResult* res, gpointer data) {
    auto* w = static_cast<eof_wait*>(data);
    w->at = peer::clock_type::now();
    gerror err;
    w->n = g_input_stream_read_finish(w->in, res, err.out());
    err.check(w->n >= 0, "g_input_stream_read_async");
    g_main_loop_quit(w->loop);
}

gboolean on_hang(gpointer data) {
    ++*static_cast<eof_wait*>(data)->hangs;  // the read stays pending: end-of-file must still come
    return G_SOURCE_REMOVE;
}

double kill_eof_once(const peer::args& a, GMainLoop* loop, long long& hangs) {
    auto p = launch({a.child, "sleep"}, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    GInputStream* out = g_subprocess_get_stdout_pipe(p.get());
    char ch = 0;
    PEER_REQUIRE(read_some(out, &ch, 1) == 1 && ch == 'r', g_workload, "no ready mark from sleep");
    auto t0 = peer::clock_type::now();
    g_subprocess_force_exit(p.get());
    eof_wait w{loop, out, -1, t0, &hangs};
    g_input_stream_read_async(out, &ch, 1, G_PRIORITY_DEFAULT, nullptr, on_eof_read, &w);
    source hang(g_timeout_source_new(static_cast<guint>(peer::hang_after.count())));
    g_source_set_callback(hang.get(), on_hang, &w, nullptr);
    g_source_attach(hang.get(), g_main_loop_get_context(loop));
    g_main_loop_run(loop);
    PEER_REQUIRE(w.n == 0, g_workload, "data after the ready mark");
    gerror err;
    err.check(g_subprocess_wait(p.get(), nullptr, err.out()) != FALSE, "g_subprocess_wait");
    PEER_REQUIRE(g_subprocess_get_if_signaled(p.get()) && g_subprocess_get_term_sig(p.get()) == SIGKILL, g_workload,
            "sleep was not killed");
    return peer::micros(w.at - t0);
}

// ---- threads: A (this thread) reads 1 byte per child; B, a thread running its own GMainContext,
// starts a lingerer from a 10 ms timeout source and reaps each with g_subprocess_wait_check_async.
class lingerers {
public:
    explicit lingerers(const peer::args& a)
        : child_(a.child), context_(g_main_context_new()), loop_(g_main_loop_new(context_, FALSE)),
          tick_(g_timeout_source_new(static_cast<guint>(peer::threads_spawn_interval.count()))) {
        g_source_set_callback(tick_.get(), on_tick, this, nullptr);
        g_source_attach(tick_.get(), context_);
        thread_ = std::thread([this] { run(); });
    }
    lingerers(const lingerers&) = delete;
    lingerers& operator=(const lingerers&) = delete;
    ~lingerers() {
        stop();
        tick_.reset();
        loop_.reset();
        g_main_context_unref(context_);
    }
    // Stops starting children; B's loop ends once every lingerer has exited. Returns how many
    // were started.
    long long stop() {
        if (thread_.joinable()) {
            g_main_context_invoke(context_, on_stop, this);  // runs in B
            thread_.join();
        }
        return started_;
    }

private:
    void run() {
        g_main_context_push_thread_default(context_);  // wait_check_async completes here
        g_main_loop_run(loop_.get());
        g_main_context_pop_thread_default(context_);
    }
    static gboolean on_tick(gpointer data) {
        auto* self = static_cast<lingerers*>(data);
        auto p = launch({self->child_, "linger", std::to_string(peer::linger_ms)});
        // The reference travels to on_reaped, which drops it.
        g_subprocess_wait_check_async(p.release(), nullptr, on_reaped, self);
        ++self->alive_;
        ++self->started_;
        return G_SOURCE_CONTINUE;
    }
    static void on_reaped(GObject* obj, GAsyncResult* res, gpointer data) {
        auto* self = static_cast<lingerers*>(data);
        subprocess p(G_SUBPROCESS(obj));
        gerror err;
        err.check(g_subprocess_wait_check_finish(p.get(), res, err.out()) != FALSE, "linger");
        --self->alive_;
        self->quit_when_done();
    }
    static gboolean on_stop(gpointer data) {
        auto* self = static_cast<lingerers*>(data);
        self->stopping_ = true;
        g_source_destroy(self->tick_.get());
        self->quit_when_done();
        return G_SOURCE_REMOVE;
    }
    void quit_when_done() {
        if (stopping_ && alive_ == 0) {
            g_main_loop_quit(loop_.get());
        }
    }

    std::string child_;
    GMainContext* context_;
    main_loop loop_;
    source tick_;
    long long alive_{0};    // B only
    bool stopping_{false};  // B only
    long long started_{0};  // B; read by A after the join
    std::thread thread_;
};

double stream_one_byte(const peer::args& a) {
    return peer::timed([&] {
        auto p = launch(stream_argv(a, 1, 1), G_SUBPROCESS_FLAGS_STDOUT_PIPE);
        PEER_REQUIRE(read_to_eof(g_subprocess_get_stdout_pipe(p.get())) == 1, g_workload, "A did not read 1 byte");
        wait_ok(p.get(), "stream 1 1");
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

// ---- messages: 100,000 g_output_stream_write_all()s of 64 bytes (GUnixOutputStream: one
// write() each), then the 1-byte acknowledgement.
void messages(const peer::args& a) {
    auto p = launch({a.child, "sink"}, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    GOutputStream* in = g_subprocess_get_stdin_pipe(p.get());
    GInputStream* ack = g_subprocess_get_stdout_pipe(p.get());
    char msg[peer::message_size];
    std::memset(msg, 'm', sizeof msg);
    peer::run(a, [&] {
        return peer::timed([&] {
            for (std::size_t i = 0; i < peer::messages_per_iteration; ++i) {
                write_all(in, msg, sizeof msg);
            }
            char ch = 0;
            PEER_REQUIRE(read_some(ack, &ch, 1) == 1 && ch == 'a', g_workload, "no acknowledgement");
        });
    });
    close_stream(in);
    PEER_REQUIRE(read_to_eof(ack) == 0, g_workload, "sink acknowledged too much");
    wait_ok(p.get(), "sink");
}

// ---- children: 1,000 `exit` children, their exits observed by g_subprocess_wait_check_async on
// a GMainLoop.
struct exits {
    GMainLoop* loop{nullptr};
    int seen{0};
};

void on_exit_seen(GObject* obj, GAsyncResult* res, gpointer data) {
    auto* e = static_cast<exits*>(data);
    subprocess p(G_SUBPROCESS(obj));  // the reference children_once handed over
    gerror err;
    err.check(g_subprocess_wait_check_finish(p.get(), res, err.out()) != FALSE, "exit child");
    if (++e->seen == peer::children_per_iteration) {
        g_main_loop_quit(e->loop);
    }
}

double children_once(const peer::args& a, GMainLoop* loop) {
    return peer::timed([&] {
        exits e{loop, 0};
        for (int i = 0; i < peer::children_per_iteration; ++i) {
            auto p = launch({a.child, "exit"});
            g_subprocess_wait_check_async(p.release(), nullptr, on_exit_seen, &e);
        }
        g_main_loop_run(loop);
        PEER_REQUIRE(e.seen == peer::children_per_iteration, g_workload, "%d exits seen", e.seen);
    });
}

}  // namespace

int main(int argc, char** argv) {
    auto a = peer::parse(argc, argv);
    g_workload = a.workload;
    peer::catch_sigpipe();
    main_loop loop(g_main_loop_new(nullptr, FALSE));  // this thread's: the global default context
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
        long long hangs = 0;
        peer::run(a, [&] { return kill_eof_once(a, loop.get(), hangs); });
        peer::info("hangs", hangs);
    } else if (w == "threads") {
        threads(a);
    } else if (w == "messages") {
        messages(a);
    } else if (w == "children") {
        peer::run(a, [&] { return children_once(a, loop.get()); }, peer::children_warmups);
    } else {
        peer::unknown_workload(a);
    }
    return 0;
}
