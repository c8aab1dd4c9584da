// tether/asio.hpp — standalone Asio (Debian libasio-dev, Asio >= 1.22) over tether's children,
// pipes and channels, header-only. The tether library itself never depends on Asio: include
// this header (it includes <asio.hpp>) only in programs that use Asio. Linux only for now
// (it is built on asio::posix::stream_descriptor and pidfds).
//
//     asio::io_context io;
//     auto ex = io.get_executor();
//     auto out = tether::asio_pipe::readable(ex, kid.take_stdout());   // Asio owns the pipe end
//     asio::async_read(out, asio::dynamic_buffer(text), on_eof);
//     tether::async_wait_exit(ex, kid, [](std::error_code ec, tether::exit_status st) { ... });
//     tether::async_receive(ex, ctl, [](std::error_code ec, tether::message m) { ... });
//     tether::async_send(ex, ctl, "job 1", [](std::error_code ec) { ... });
//     io.run();
//
// Ownership: who closes what, and why nothing closes a descriptor Asio has registered.
// - Pipe ends MOVE into Asio: asio_pipe::readable()/writable() take a unique_handle&& and return
//   the asio::readable_pipe / writable_pipe that now owns (and closes) it. The one release() is
//   inside the adapter, after Asio accepted the descriptor; on failure the caller keeps it.
// - Channels: an operation waits on its OWN duplicate of channel::native() (F_DUPFD_CLOEXEC),
//   owned by an asio::posix::stream_descriptor inside the operation. An epoll registration
//   belongs to a (descriptor number, open file description) pair and lasts until that number is
//   closed or deregistered: the channel closing its descriptor never pulls Asio's copy out of
//   Asio's reactor, and Asio closing its copy never closes the channel's. (Asio switches the
//   shared file description to O_NONBLOCK; tether's channel I/O does not depend on that mode:
//   it always uses MSG_DONTWAIT and waits with poll.)
// - Children: the wait uses a NEW pidfd of the child (pidfd_open on its pid), not a dup of
//   child::process_handle(). A dup would share the open file description, and Asio sets
//   O_NONBLOCK on the descriptors it waits on; on a pidfd that flag makes the blocking
//   waitid(P_PIDFD) behind child::wait() fail with EAGAIN while the child runs (Linux >= 5.10)
//   — after a cancelled async_wait_exit(), child::wait() would break. A separate pidfd has its
//   own flags. Opening it by pid is safe: the child is ours and not yet reaped, and the kernel
//   does not reuse the pid of an unreaped child. Without a pidfd (kernel < 5.3, valgrind) the
//   wait is a steady_timer that calls child::try_wait() every 10 ms: the exit is seen within
//   10 ms instead of at once.
//
// Lifetimes. The child or channel an operation works on is BORROWED: it must stay alive and in
// place (not moved, not closed) until the handler ran or the operation was cancelled and its
// handler ran — as a buffer given to asio::async_read must. Everything else an operation needs
// (its duplicate descriptor, its timer) it owns, and it is closed when the operation ends.
// Destroying the io_context with operations pending destroys them without calling their
// handlers (Asio's rule); their descriptors are closed then and the child and channel are left
// untouched and fully usable.
//
// Cancellation. Every operation supports Asio's per-operation cancellation:
//     asio::cancellation_signal stop;
//     tether::async_wait_exit(ex, kid, asio::bind_cancellation_slot(stop.slot(), handler));
//     stop.emit(asio::cancellation_type::terminal);   // handler: asio::error::operation_aborted
// async_wait_exit() and async_receive() accept total cancellation too (nothing was consumed:
// a message is never lost to a cancelled receive); async_send()/async_flush() only terminal
// (the rest of the message stays queued in the channel: the next send, flush or receive
// writes it). Handlers are never called from inside the initiating call (they are posted), so
// an operation can be started from anywhere, also from another operation's handler.
//
// Threads: as tether's objects themselves, the operations on one channel or child must not run
// concurrently — run the io_context on one thread, or start them on one strand.
//
// Cost: each operation that has to wait duplicates a descriptor and registers it with Asio's
// reactor (two system calls each way). That is fine for control traffic; for thousands of
// messages per second from one thread, tether::poller batches without that cost.
#pragma once

#include <tether/channel.hpp>
#include <tether/error.hpp>
#include <tether/handle.hpp>
#include <tether/pipe.hpp>
#include <tether/spawn.hpp>
#include <tether/terminal.hpp>

#include <asio.hpp>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace tether {
namespace detail::asio_glue {

/// How often a child without a pidfd is checked (as tether::poller's fallback).
inline constexpr std::chrono::milliseconds exit_poll_period{10};

/// A new process handle of `c` of its own (Linux: pidfd_open on its pid, not a dup; see the
/// header comment), for an event loop of the caller's. Defined by the library (src/linux).
unique_handle open_process_handle(const child& c, std::error_code& ec) noexcept;

/// An Asio-owned descriptor made from `h`, which Asio takes over (closed with `h` if it refuses).
inline std::error_code adopt(::asio::posix::stream_descriptor& sd, unique_handle h, std::error_code ec) {
    if (ec) return ec;
    sd.assign(h.get(), ec);
    if (!ec) (void)h.release();  // Asio owns the descriptor now and closes it
    return ec;
}

/// A stream_descriptor owning a duplicate of `h` (its own number, the same file description).
inline std::error_code watch_duplicate(::asio::posix::stream_descriptor& sd, borrowed_handle h) {
    if (!h) return errc::closed;
    std::error_code ec;
    auto dup = h.duplicate(ec);
    return adopt(sd, std::move(dup), ec);
}

/// A stream_descriptor owning a new pidfd of `c` (see the header comment: not a dup).
inline std::error_code watch_process(::asio::posix::stream_descriptor& sd, const child& c) {
    std::error_code ec;
    auto pidfd = open_process_handle(c, ec);
    return adopt(sd, std::move(pidfd), ec);
}

template <class Pipe>
Pipe adopt_pipe(const ::asio::any_io_executor& ex, unique_handle&& h, direction d, const char* fn) {
    if (!h) throw_error(errc::invalid_argument, std::string(fn) + ": no handle");
    auto what = std::string(fn) + ": descriptor " + to_handle_string(h);
    native_handle checked = invalid_native_handle();
    if (auto ec = check_pipe_handle_string(d, to_handle_string(h), checked)) throw_error(ec, what);
    Pipe p(ex);
    std::error_code ec;
    p.assign(h.get(), ec);
    if (ec) throw_error(ec, what);
    (void)h.release();  // the one release(): Asio owns the descriptor now and closes it
    return p;
}

struct op_base {
    ::asio::any_io_executor ex;
    enum class step { start, run } at{step::start};
    std::error_code setup;  // an error found while starting, delivered from the posted step

    /// The first step only posts, so no handler is ever called inside the initiating call.
    template <class Self>
    bool started(Self& self) {
        if (at == step::run) return true;
        at = step::run;
        ::asio::post(ex, std::move(self));
        return false;
    }
};

// Each operation keeps its descriptor on the heap: the composed operation (and this object
// with it) is moved into every wait it starts, while Asio holds on to the descriptor object.
struct exit_wait_op : op_base {
    struct state {
        explicit state(const ::asio::any_io_executor& e) : process(e), timer(e) {}
        ::asio::posix::stream_descriptor process;
        ::asio::steady_timer timer;
    };
    child* c{nullptr};
    std::unique_ptr<state> s;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}) {
        if (at == step::start) {
            self.reset_cancellation_state(::asio::enable_total_cancellation());
            s = std::make_unique<state>(ex);
            if (!*c) setup = errc::invalid_argument;
            else if (!c->status() && c->process_handle())
                (void)watch_process(s->process, *c);  // failing that: the timer below
        }
        if (!started(self)) return;
        if (!ec && self.get_cancellation_state().cancelled() != ::asio::cancellation_type::none) ec = ::asio::error::operation_aborted;
        if (!ec) ec = setup;
        if (ec) return self.complete(ec, exit_status{});
        std::optional<exit_status> st;
        try {
            st = c->try_wait();
        } catch (const std::system_error& e) {
            return self.complete(e.code(), exit_status{});
        }
        if (st) return self.complete(std::error_code(), *st);
        if (s->process.is_open()) return s->process.async_wait(::asio::posix::descriptor_base::wait_read, std::move(self));
        s->timer.expires_after(exit_poll_period);
        s->timer.async_wait(std::move(self));
    }
};

struct receive_op : op_base {
    channel* ch{nullptr};
    std::unique_ptr<::asio::posix::stream_descriptor> sd;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}) {
        if (at == step::start) self.reset_cancellation_state(::asio::enable_total_cancellation());
        if (!started(self)) return;
        // Cancellation is checked before try_receive(): a cancelled receive takes nothing.
        if (!ec && self.get_cancellation_state().cancelled() != ::asio::cancellation_type::none) ec = ::asio::error::operation_aborted;
        if (ec) return self.complete(ec, message{});
        std::error_code rec;
        auto m = ch->try_receive(rec);  // a frame already buffered comes without any I/O
        if (m) return self.complete(std::error_code(), std::move(*m));
        if (rec && rec != errc::would_block) return self.complete(rec, message{});
        if (!sd) {
            sd = std::make_unique<::asio::posix::stream_descriptor>(ex);
            if (auto dec = watch_duplicate(*sd, ch->native())) return self.complete(dec, message{});
        }
        sd->async_wait(::asio::posix::descriptor_base::wait_read, std::move(self));
    }
};

struct flush_op : op_base {
    channel* ch{nullptr};
    std::unique_ptr<::asio::posix::stream_descriptor> sd;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}) {
        if (!started(self)) return;
        if (!ec && self.get_cancellation_state().cancelled() != ::asio::cancellation_type::none) ec = ::asio::error::operation_aborted;
        if (!ec) ec = setup;
        if (ec) return self.complete(ec);
        if (ch->flush_some(ec) || ec) return self.complete(ec);
        if (!sd) {
            sd = std::make_unique<::asio::posix::stream_descriptor>(ex);
            if (auto dec = watch_duplicate(*sd, ch->native())) return self.complete(dec);
        }
        sd->async_wait(::asio::posix::descriptor_base::wait_write, std::move(self));
    }
};

}  // namespace detail::asio_glue

namespace asio_pipe {

/// Moves a pipe's read end into Asio.
/// @param ex the executor (e.g. io_context::get_executor()) the pipe's operations run on.
/// @param h a pipe read end, e.g. child::take_stdout(); taken over on success (Asio closes it),
///        left with the caller if this throws.
/// @returns an asio::readable_pipe that owns the descriptor.
/// @throws std::system_error: errc::invalid_argument (no handle), errc::not_a_pipe,
///         errc::wrong_direction (a write end), or Asio's error; the message names the descriptor.
inline ::asio::readable_pipe readable(const ::asio::any_io_executor& ex, unique_handle&& h) {
    return detail::asio_glue::adopt_pipe<::asio::readable_pipe>(ex, std::move(h), direction::in,
                                                                "asio_pipe::readable");
}

/// Moves a pipe's write end into Asio (e.g. child::take_stdin()); destroying or closing the
/// returned pipe is the child's end-of-file.
/// @param ex the executor the pipe's operations run on.
/// @param h a pipe write end; taken over on success, left with the caller if this throws.
/// @returns an asio::writable_pipe that owns the descriptor.
/// @throws std::system_error as readable() (errc::wrong_direction for a read end).
inline ::asio::writable_pipe writable(const ::asio::any_io_executor& ex, unique_handle&& h) {
    return detail::asio_glue::adopt_pipe<::asio::writable_pipe>(ex, std::move(h), direction::out,
                                                                "asio_pipe::writable");
}

}  // namespace asio_pipe

/// A child's terminal (tether::terminal, Linux) as an Asio stream: async_read_some() and
/// async_write_some(), so asio::async_read / async_write and their kin work on it. It owns a
/// duplicate of the terminal's master, so the terminal object keeps its own; close either.
/// Linux reports the session's end on a master as EIO: this stream reports it as
/// asio::error::eof, the end-of-file every other Asio stream gives.
class asio_terminal {
public:
    /// The executor type, as Asio's stream concepts want.
    using executor_type = ::asio::any_io_executor;

    /// @param ex the executor the terminal's operations run on.
    /// @param t an open terminal (child::take_terminal()).
    /// @throws std::system_error: errc::closed for an empty or closed terminal; the error of
    ///         the duplicate or of Asio's registration.
    asio_terminal(const executor_type& ex, const terminal& t) : sd_(ex) {
        if (!t) throw_error(errc::closed, "asio_terminal: the terminal is closed");
        std::error_code ec;
        auto dup = t.output().duplicate(ec);
        if (ec) throw_error(ec, "asio_terminal: duplicate the terminal");
        sd_.assign(dup.get(), ec);
        if (ec) throw_error(ec, "asio_terminal: register the terminal with Asio");
        (void)dup.release();  // Asio owns the duplicate now and closes it
    }

    /// @returns the executor the operations run on.
    executor_type get_executor() noexcept { return sd_.get_executor(); }

    /// Reads what the child wrote; asio::error::eof once the session has ended.
    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return ::asio::async_compose<Token, void(std::error_code, std::size_t)>(
            [this, buffers, started = false](auto& self, std::error_code ec = {}, std::size_t n = 0) mutable {
                if (!started) {
                    started = true;
                    return sd_.async_read_some(buffers, std::move(self));
                }
                if (ec == std::error_code(EIO, ::asio::error::get_system_category())) ec = ::asio::error::eof;
                self.complete(ec, n);
            },
            token, sd_);
    }

    /// Writes as if typed.
    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return sd_.async_write_some(buffers, std::forward<Token>(token));
    }

    /// Closes this stream's duplicate (the terminal object keeps its own).
    void close() noexcept {
        std::error_code ignored;
        sd_.close(ignored);
    }

private:
    ::asio::posix::stream_descriptor sd_;
};

/// Waits for `c` to end without blocking the io_context, then reaps it (child::try_wait()).
/// @param ex the executor the wait runs on.
/// @param c the child; borrowed: alive and in place until the handler ran. An already reaped
///        child completes at once (posted) with its status.
/// @param token completion token with signature void(std::error_code, tether::exit_status):
///        the status with no error; otherwise asio::error::operation_aborted (cancelled),
///        errc::invalid_argument (an empty child) or the OS error of the wait (the status is
///        then meaningless).
/// @returns what the completion token makes of it (nothing for a plain handler).
template <class CompletionToken>
auto async_wait_exit(const ::asio::any_io_executor& ex, child& c, CompletionToken&& token) {
    detail::asio_glue::exit_wait_op op;
    op.ex = ex;
    op.c = &c;
    return ::asio::async_compose<CompletionToken, void(std::error_code, exit_status)>(
        std::move(op), token, ex);
}

/// Receives the next message from `ch` without blocking the io_context: a message already
/// buffered in the channel at once (posted), otherwise once the channel's socket has a whole
/// frame. Each wake-up also writes what it can of the channel's post() queue.
/// @param ex the executor the receive runs on.
/// @param ch the channel; borrowed: alive, open and in place until the handler ran.
/// @param token completion token with signature void(std::error_code, tether::message).
///        goodbye and vanished are messages (no error); once received, later receives return
///        them again. Errors: errc::protocol_error / errc::message_too_large (the channel is
///        closed then, as with channel::receive()), errc::closed, asio::error::operation_aborted.
/// @returns what the completion token makes of it.
template <class CompletionToken>
auto async_receive(const ::asio::any_io_executor& ex, channel& ch, CompletionToken&& token) {
    detail::asio_glue::receive_op op;
    op.ex = ex;
    op.ch = &ch;
    return ::asio::async_compose<CompletionToken, void(std::error_code, message)>(std::move(op), token, ex);
}

/// Writes `ch`'s queue (channel::post(), send_more()) as the socket drains, without blocking
/// the io_context.
/// @param ex the executor the flush runs on.
/// @param ch the channel; borrowed: alive, open and in place until the handler ran.
/// @param token completion token with signature void(std::error_code): no error once nothing
///        is queued; errc::peer_gone (the queue is dropped, as with channel::send()),
///        errc::closed, asio::error::operation_aborted (the rest stays queued).
/// @returns what the completion token makes of it.
template <class CompletionToken>
auto async_flush(const ::asio::any_io_executor& ex, channel& ch, CompletionToken&& token) {
    detail::asio_glue::flush_op op;
    op.ex = ex;
    op.ch = &ch;
    return ::asio::async_compose<CompletionToken, void(std::error_code)>(std::move(op), token, ex);
}

/// Sends one message without blocking the io_context: channel::post() (the bytes are copied
/// into the channel's queue before this returns, so `data` need not outlive the call), then
/// async_flush().
/// @param ex the executor the send runs on.
/// @param ch the channel; borrowed: alive, open and in place until the handler ran.
/// @param data the payload (at most channel_options::max_message_size bytes).
/// @param token completion token with signature void(std::error_code): as async_flush(), and
///        errc::message_too_large when `data` is too long (nothing is queued then).
/// @returns what the completion token makes of it.
template <class CompletionToken>
auto async_send(const ::asio::any_io_executor& ex, channel& ch, std::span<const std::byte> data,
                CompletionToken&& token) {
    detail::asio_glue::flush_op op;
    op.ex = ex;
    op.ch = &ch;
    ch.post(data, op.setup);
    return ::asio::async_compose<CompletionToken, void(std::error_code)>(std::move(op), token, ex);
}

/// As above, for text.
template <class CompletionToken>
auto async_send(const ::asio::any_io_executor& ex, channel& ch, std::string_view text, CompletionToken&& token) {
    return async_send(ex, ch, std::as_bytes(std::span(text.data(), text.size())),
                      std::forward<CompletionToken>(token));
}

}  // namespace tether
