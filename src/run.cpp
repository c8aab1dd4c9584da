// run(): one child, its three streams and its exit, multiplexed on one poller (portable: the
// poller and the non-blocking pipe calls hide the platform).
#include <tether/error.hpp>
#include <tether/lines.hpp>
#include <tether/pipe.hpp>
#include <tether/poller.hpp>
#include <tether/run.hpp>

#include "detail/deadline.hpp"
#include "detail/held_open.hpp"
#include "detail/holders.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>

namespace tether {
namespace {

using detail::deadline;

// Larger than a default pipe (64 KiB): a read that empties the pipe returns less than the
// buffer, so the loop goes back to the poller without a probe read that would find nothing.
constexpr std::size_t read_chunk = 256 * 1024;
/// Reads per readable event while they fill the buffer: a fast writer is drained without a
/// wait per chunk, and a flooding one cannot starve the other streams.
constexpr int reads_per_event = 16;
enum : std::uint64_t { token_child = 1, token_in, token_out, token_err };

void append(std::string& b, std::span<const std::byte> d) { b.append(reinterpret_cast<const char*>(d.data()), d.size()); }
void append(std::vector<std::byte>& b, std::span<const std::byte> d) { b.insert(b.end(), d.begin(), d.end()); }

/// One output stream of the child, read by us.
template <class Buffer>
struct stream {
    const char* name;
    std::uint64_t token;
    unique_handle h;
    Buffer* into{nullptr};
    const std::function<void(std::span<const std::byte>)>* sink{nullptr};
    const std::function<void(std::string_view)>* line_sink{nullptr};  // with `lines`
    std::optional<line_splitter> lines;
    std::size_t total{0};
};

template <class F>
const F* if_set(const F& f) { return f ? &f : nullptr; }

std::string describe_limit(milliseconds t) { return std::to_string(t.count()) + " ms"; }

// Options that cannot work, with the message that names them; clear when they can.
std::error_code check(const spawn_options& o, const run_options& ro, std::string& why) {
    auto bad = [&why](std::string text) {
        why = "run: " + std::move(text);
        return make_error_code(errc::invalid_argument);
    };
    if (ro.timeout <= milliseconds::zero()) return bad("timeout must be positive (got " + describe_limit(ro.timeout) + ")");
    if (ro.eof_grace < milliseconds::zero()) return bad("eof_grace must not be negative (got " + describe_limit(ro.eof_grace) + ")");
    if (ro.output_limit == 0) return bad("output_limit must be at least 1 byte (got 0)");
    if ((ro.on_stdout && ro.on_stdout_line) || (ro.on_stderr && ro.on_stderr_line))
        return bad("on_stdout and on_stdout_line (or on_stderr and on_stderr_line) are both set: choose one");
    if (ro.max_line == 0) return bad("max_line must be at least 1 byte (got 0)");
    bool out = ro.capture_stdout || ro.on_stdout || ro.on_stdout_line;
    bool err = !ro.merge_stderr && (ro.capture_stderr || ro.on_stderr || ro.on_stderr_line);
    if (ro.input && o.in.how != stdio::kind::inherit) return bad("input is given, so spawn_options::in must be left as inherited");
    if (out && o.out.how != stdio::kind::inherit) return bad("stdout is captured, so spawn_options::out must be left as inherited (or capture_stdout = false)");
    if ((err || ro.merge_stderr) && o.err.how != stdio::kind::inherit)
        return bad("stderr is captured, so spawn_options::err must be left as inherited (or capture_stderr = false)");
    if (ro.merge_stderr && !out) return bad("merge_stderr needs stdout captured or streamed");
    if (ro.terminal && (ro.on_stderr || ro.on_stderr_line || ro.merge_stderr))
        return bad("terminal is set: stderr is on the terminal with stdout, so on_stderr, on_stderr_line and "
                   "merge_stderr do not apply");
    if (ro.terminal && !out) return bad("terminal is set: its output must be captured or streamed (capture_stdout)");
    if (ro.terminal && o.err.how != stdio::kind::inherit)
        return bad("terminal is set, so spawn_options::err must be left as inherited");
    return {};
}

template <class Buffer>
class runner {
public:
    runner(const run_options& ro, basic_run_result<Buffer>& res)
        : ro_(ro), res_(res), out_{"stdout", token_out, {}, &res.out, if_set(ro.on_stdout), if_set(ro.on_stdout_line), {}},
          err_{"stderr", token_err, {}, &res.err, if_set(ro.on_stderr), if_set(ro.on_stderr_line), {}} {
        for (auto* s : {&out_, &err_})
            if (s->line_sink != nullptr) s->lines.emplace(ro.max_line);
    }

    std::error_code start(spawn_options&& o, std::string& message) {
        bool out = ro_.capture_stdout || ro_.on_stdout || ro_.on_stdout_line;
        bool err = !ro_.terminal && !ro_.merge_stderr && (ro_.capture_stderr || ro_.on_stderr || ro_.on_stderr_line);
        if (ro_.terminal) on_terminal(o);
        else if (ro_.input) o.in = stdio::pipe();
        if (out && !ro_.terminal) o.out = stdio::pipe();
        if (ro_.merge_stderr) o.err = stdio::to_stdout();
        if (err) o.err = stdio::pipe();
        if (ro_.kill_tree && o.group == process_group::inherit) o.group = process_group::new_group;
        if (ends_tree() && !o.detached) o.own_tree = true;
        std::error_code ec;
        program_ = o.argv.empty() ? std::string() : o.argv[0];
        c_ = spawn(std::move(o), ec, message);
        if (ec) return ec;
        pid_ = c_.pid();
        p_.add(c_, token_child);
        in_ = c_.take_stdin();
        out_.h = c_.take_stdout();
        err_.h = c_.take_stderr();
        input_ = ro_.input ? std::string_view(*ro_.input) : std::string_view();
        if (ro_.terminal) take_terminal();
        if (in_ && input_.empty()) in_.reset();  // nothing to feed: end-of-file at once
        if (in_) p_.add(in_.borrow(), interest::write, token_in);
        for (auto* s : {&out_, &err_})
            if (s->h) p_.add(s->h.borrow(), interest::read, s->token);
        limit_ = deadline::after(ro_.timeout);
        return {};
    }

    // All three streams on one terminal; the input is typed, then end-of-file (Ctrl-D, twice
    // after a partial line: the first only ends that line).
    void on_terminal(spawn_options& o) {
        o.in = stdio::terminal(ro_.terminal->cols, ro_.terminal->rows);
        o.out = stdio::terminal(ro_.terminal->cols, ro_.terminal->rows);
        o.err = stdio::terminal(ro_.terminal->cols, ro_.terminal->rows);
        if (ro_.input) typed_ = *ro_.input + (ro_.input->empty() || ro_.input->back() == '\n' ? "\x04" : "\x04\x04");
    }

    // Our side of the terminal is kept by term_; the loop reads and writes copies of its
    // handles, closed as the pipes' ends are, without closing the terminal under the child.
    void take_terminal() {
        term_ = c_.take_terminal();
        out_.h = term_.output().duplicate();
        if (ro_.input) in_ = term_.input().duplicate();
        input_ = typed_;
    }

    void loop() {
        std::vector<poll_event> events;
        for (;;) {
            bool open = out_.h || err_.h;
            if (exited_ && !open) return;
            if (exited_ && eof_.expired() && !end_holders()) return;  // finish() names the holders
            auto until = exited_ ? eof_ : (ended_ ? deadline::never() : limit_);
            p_.wait(events, until.remaining());
            for (auto& e : events) dispatch(e);
            if (!exited_ && !ended_ && limit_.expired()) {
                res_.timed_out = true;
                end_child();
            }
        }
    }

    /// Why the child's status is unknown (reaped elsewhere), or clear.
    [[nodiscard]] std::error_code status_error() const { return status_error_; }
    /// What a sink (on_stdout / on_stderr) threw, which ended the run; null if none.
    [[nodiscard]] std::exception_ptr sink_error() const { return sink_error_; }

    /// Closes what is still open; the pipes a grandchild holds are named in res_.stuck.
    void finish() {
        for (auto* s : {&out_, &err_})
            if (s->h) {
                res_.stuck.push_back(describe_stuck(*s));
                close(*s);
            }
        if (in_) close_input();
    }

private:
    const run_options& ro_;
    basic_run_result<Buffer>& res_;
    child c_;
    terminal term_;  // run_options::terminal: ours until the run ends (closing it hangs the child up)
    std::string typed_;  // the input as typed into the terminal
    poller p_;
    unique_handle in_;
    std::string_view input_;
    stream<Buffer> out_, err_;
    std::unique_ptr<std::byte[]> buf_;  // read_chunk bytes, allocated on first use, never zero-filled
    deadline limit_{deadline::never()}, eof_{deadline::never()};
    bool exited_{false}, ended_{false}, holders_ended_{false};
    std::string program_;  // argv[0], for the stuck-pipe verdict
    std::int64_t pid_{-1};
    std::error_code status_error_;
    std::exception_ptr sink_error_;

    void dispatch(const poll_event& e) {
        if (e.token == token_child) {
            // `failed`: reaped behind our back; its status must not read as a success.
            if (e.status) res_.status = *e.status;
            else res_.status = exit_status{exit_status::kind::unknown, 0, false};
            if (!e.status) status_error_ = e.error ? e.error : make_error_code(std::errc::no_child_process);
            exited_ = true;
            eof_ = deadline::after(ro_.eof_grace);
        } else if (e.token == token_in) {
            feed(e.what == poll_event::kind::hung_up);
        } else {
            drain(e.token == token_out ? out_ : err_);
        }
    }

    void feed(bool hung_up) {
        std::error_code ec;
        if (!hung_up) {
            auto n = try_write(in_.borrow(), std::as_bytes(std::span(input_.data(), input_.size())), ec);
            input_.remove_prefix(n);
            if (ec == errc::would_block || (!ec && !input_.empty())) return;
        }
        res_.input_truncated = !input_.empty();  // the child closed stdin first: no error
        close_input();
    }

    void close_input() {
        p_.remove(token_in);
        in_.reset();  // end-of-file for the child
    }

    void drain(stream<Buffer>& s) {
        if (!buf_) buf_ = std::make_unique_for_overwrite<std::byte[]>(read_chunk);
        std::span<std::byte> buf(buf_.get(), read_chunk);
        for (int k = 0; k < reads_per_event && s.h; ++k) {
            // The first read follows a readable event (data or the end is there: it returns at
            // once, one system call); the next ones must not wait.
            std::error_code ec;
            auto n = k == 0 ? read(s.h.borrow(), buf, ec) : try_read(s.h.borrow(), buf, ec);
            if (ec == errc::would_block) return;
            if (ec || n == 0) return close(s);  // end-of-file (an error on our own pipe ends it too)
            deliver(s, buf.first(n));
            if (n < buf.size()) return;
        }
    }

    void deliver(stream<Buffer>& s, std::span<const std::byte> d) {
        auto room = ro_.output_limit - s.total;
        auto keep = d.first(std::min(d.size(), room));
        s.total += keep.size();
        if (s.lines) {
            if (!call_sink([&] { feed_lines(s, keep); })) return;
        } else if (s.sink != nullptr) {
            if (!call_sink([&] { (*s.sink)(keep); })) return;
        } else {
            append(*s.into, keep);
        }
        if (keep.size() < d.size()) {
            res_.output_limited = true;
            close(s);
            end_child();
        }
    }

    // A sink that throws (its own reader went away, say) ends the run: nothing more is
    // delivered, the child is ended and collected, and run() rethrows.
    template <class Call>
    bool call_sink(Call&& call) {
        try {
            call();
            return true;
        } catch (...) {
            sink_error_ = std::current_exception();
        }
        for (auto* o : {&out_, &err_})
            if (o->h) close(*o);
        end_child();
        return false;
    }

    // A line longer than max_line ends the run as a sink that throws does.
    void feed_lines(stream<Buffer>& s, std::span<const std::byte> d) {
        if (s.lines->feed(d, *s.line_sink))
            throw std::system_error(make_error_code(errc::line_too_long),
                                    "run '" + program_ + "': a line of " + s.name + " longer than " +
                                        std::to_string(ro_.max_line) + " bytes (max_line)");
    }

    void close(stream<Buffer>& s) {
        p_.remove(s.token);
        s.h.reset();
        // The last line had no '\n': it is delivered at the end, unless a sink ended the run.
        if (s.lines && !sink_error_) call_sink([&] { s.lines->finish(*s.line_sink); });
        s.lines.reset();
    }

    [[nodiscard]] bool ends_tree() const { return ro_.end_tree || ro_.kill_tree; }

    // Ends the child (its tree with end_tree); its exit arrives as an event.
    void end_child() {
        if (ended_) return;
        ended_ = true;
        std::error_code ec;
        if (ends_tree()) {
            c_.kill_tree(ec);
            res_.tree_ended = !ec;
        }
        if (!exited_ && (!ends_tree() || ec)) c_.kill(ec);
    }

    // The child exited, its grace is over and a pipe is still held: with kill_tree the holders
    // (its descendants) are ended once and get another grace for the end-of-file to arrive.
    bool end_holders() {
        if (!ro_.kill_tree || holders_ended_) return false;
        holders_ended_ = true;
        std::error_code ec;
        c_.kill_tree(ec);
        if (ec) return false;
        res_.tree_ended = true;
        eof_ = deadline::after(std::max(ro_.eof_grace, milliseconds(1000)));
        return true;
    }

    stuck_pipe describe_stuck(const stream<Buffer>& s) const {
        return detail::describe_held_open(s.h, s.name, program_ + " (PID " + std::to_string(pid_) + ", which " +
                                                           (ended_ ? "run() ended" : "exited") + ")");
    }
};

template <class Buffer>
basic_run_result<Buffer> run_impl(spawn_options&& o, const run_options& ro, std::error_code& ec, std::string& message) {
    basic_run_result<Buffer> res;
    message.clear();
    if ((ec = check(o, ro, message))) return res;
    auto program = o.argv.empty() ? std::string() : o.argv[0];
    runner<Buffer> r(ro, res);
    if ((ec = r.start(std::move(o), message))) return res;
    r.loop();
    r.finish();
    if (auto e = r.sink_error()) std::rethrow_exception(e);
    if (res.timed_out) {
        ec = errc::timed_out;
        message = "run '" + program + "': still running after " + describe_limit(ro.timeout) + ", ended" +
                  (res.tree_ended ? " with its tree" : "");
    } else if (res.output_limited) {
        ec = errc::output_limit;
        message = "run '" + program + "': output past " + std::to_string(ro.output_limit) + " bytes, ended" +
                  (res.tree_ended ? " with its tree" : "");
    } else if (auto lost = r.status_error()) {
        ec = lost;
        message = "run '" + program + "': it ended, but its exit status was collected by someone else "
                  "(SIGCHLD ignored, or the application's own waitpid)";
    }
    return res;
}

template <class Buffer>
basic_run_result<Buffer> run_or_throw(spawn_options&& o, const run_options& ro) {
    std::error_code ec;
    std::string message;
    auto res = run_impl<Buffer>(std::move(o), ro, ec, message);
    if (ec) throw std::system_error(ec, message);
    return res;
}

}  // namespace

run_result run(spawn_options&& options, const run_options& ro) { return run_or_throw<std::string>(std::move(options), ro); }

run_result run(spawn_options&& options, const run_options& ro, std::error_code& ec, std::string& message) {
    return run_impl<std::string>(std::move(options), ro, ec, message);
}

run_bytes_result run_bytes(spawn_options&& options, const run_options& ro) {
    return run_or_throw<std::vector<std::byte>>(std::move(options), ro);
}

run_bytes_result run_bytes(spawn_options&& options, const run_options& ro, std::error_code& ec, std::string& message) {
    return run_impl<std::vector<std::byte>>(std::move(options), ro, ec, message);
}

}  // namespace tether
