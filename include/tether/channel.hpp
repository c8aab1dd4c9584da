// tether/channel.hpp — a duplex message channel to a child (or parent) process that tells an
// orderly goodbye from a crash and carries handles as first-class messages.
//
//     auto [ctl, theirs] = tether::make_channel();
//     opt.pass(std::move(theirs), "control");          // the child: channel::inherited("control")
//     auto worker = tether::spawn(std::move(opt));
//     ctl.send("job 1");
//     ctl.send_handle(std::move(file));                // to a running child
//     auto msg = ctl.receive(worker);                  // data | goodbye | vanished (+ exit status)
//     std::cout << msg.describe();                     // "vanished: killed by signal 9 (SIGKILL)"
//
// Sending. send() returns when the message (and anything queued before it) has been handed to
// the operating system, so a message never waits in our memory while the sender blocks on
// something else. For bursts, send_more() queues into a buffer that is written when it fills,
// on the next send(), flush(), receive*(), and close() — so a receive() can never wait for a
// reply to a request that is still sitting in our own buffer. Only send_more() data that was
// never flushed is lost if the channel is destroyed. Like any pipe, a send blocks while the
// peer's receive buffer is full (two peers that only send can deadlock each other).
//
// Ending. close() flushes, sends a goodbye frame and closes: the peer then receives
// message::kind::goodbye. The destructor closes WITHOUT goodbye and without flushing (it must
// not block or throw): the peer receives kind::vanished, exactly as if this process had
// crashed. Saying goodbye is a deliberate act; an exception unwinding past a channel is
// reported to the peer as an abnormal end, which it is.
//
// Limits and errors. Every frame header is validated before anything is trusted or allocated
// (and a payload's storage grows with the bytes that arrive, not with the length announced);
// a malformed or unknown frame is errc::protocol_error, a payload above
// channel_options::max_message_size is errc::message_too_large, and either one closes the
// channel (later calls report errc::closed). A peer leaving is not an error for receive():
// it is a message (goodbye / vanished) — also when the peer died in the middle of sending a
// frame (a frame cut short by end-of-file is the peer vanishing, not a protocol error). For
// send() it is errc::peer_gone: the error_code overloads report it without throwing. Once a
// write found the peer gone, what was queued is dropped and every later send reports
// errc::peer_gone at once.
//
// Time. Every timed call is bounded by its timeout, whatever is queued: a receive_for() whose
// peer does not read our queued output returns on time and the output stays queued.
//
// Threads: a channel is not synchronised; use it from one thread at a time (like an Asio socket).
#pragma once

#include <tether/handle.hpp>
#include <tether/pipe.hpp>
#include <tether/spawn.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tether {
namespace detail {
class deadline;
class channel_source;
}

/// Limits applied to what this end receives (and sends).
struct channel_options {
    /// Largest payload accepted or sent, in bytes (at most 4 GiB - 1: the length is 32-bit).
    std::size_t max_message_size{16u * 1024 * 1024};
};

/// One thing received from a channel.
struct message {
    /// What a message is.
    enum class kind {
        data,      ///< a payload and/or handles
        goodbye,   ///< the peer called close(): it ended in order
        vanished,  ///< end-of-file without goodbye: the peer crashed, was killed, or dropped its end
    };
    kind what{kind::data};  ///< data, goodbye or vanished
    /// The bytes sent (data only).
    std::vector<std::byte> payload;
    /// Handles sent with the message, owned by the receiver now (never inheritable).
    std::vector<unique_handle> handles;
    /// With channel::receive(child&): how the peer process ended, once known.
    std::optional<exit_status> peer_status;
    /// With channel::receive(child&): the peer process had not ended within the reap timeout.
    bool peer_running{false};

    /// @returns true for a payload and/or handles.
    [[nodiscard]] bool is_data() const noexcept { return what == kind::data; }
    /// @returns true if the peer closed in order (channel::close()).
    [[nodiscard]] bool is_goodbye() const noexcept { return what == kind::goodbye; }
    /// @returns true if the peer's end went away without goodbye.
    [[nodiscard]] bool is_vanished() const noexcept { return what == kind::vanished; }
    /// The payload as text (a view into payload).
    [[nodiscard]] std::string_view text() const noexcept;
    /// "data (5 bytes, 1 handle)", "goodbye", "vanished", "vanished: exited with code 3",
    /// "vanished: killed by signal 9 (SIGKILL)", "vanished: still running".
    [[nodiscard]] std::string describe() const;
};

class channel;

struct channel_pair;

namespace detail {
/// Internal: `ch` as a tether::poller drives it (src/detail/poll_source.hpp); nullptr if `ch`
/// has no state (default-constructed or moved from).
channel_source* source_of(channel& ch) noexcept;
}  // namespace detail

/// A new connected channel. `theirs` is a raw handle to give to a child with
/// spawn_options::pass(std::move(theirs), "control"); the child opens it with
/// channel::inherited("control"). Neither end is inheritable (Linux: socketpair(SOCK_CLOEXEC);
/// Windows: a duplex named pipe created with bInheritHandle=FALSE).
/// @throws std::system_error if the system is out of descriptors.
channel_pair make_channel(channel_options options = {});

/// A message channel to a peer process over one OS object (a Unix socket pair on Linux, a
/// duplex named pipe on Windows): framed messages, handle passing, and the difference between
/// a peer that said goodbye and one that vanished. Move-only; see the header comment.
class channel {
public:
    /// A closed channel (is_open() is false).
    channel() noexcept;
    /// Adopts one end of a channel (e.g. a handle received in a message). Validates it.
    /// @throws std::system_error(errc::invalid_argument) if `h` is not a channel end; `h` is
    ///         closed then.
    explicit channel(unique_handle&& h, channel_options options = {});
    /// Takes over `other`'s end; `other` is closed afterwards.
    channel(channel&& other) noexcept;
    /// Closes this end as the destructor does, then takes over `other`'s.
    channel& operator=(channel&& other) noexcept;
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;
    /// Closes without goodbye and without flushing (see the header comment). Never throws,
    /// never blocks.
    ~channel();

    /// The child's side: the channel the parent passed under `name`.
    /// @throws std::system_error: errc::no_manifest, errc::unknown_handle_name (from
    ///         tether::inherited), errc::invalid_argument if that handle is not a channel end.
    static channel inherited(std::string_view name, channel_options options = {});

    /// @returns true until close() (or a protocol error) closed the channel.
    [[nodiscard]] bool is_open() const noexcept;
    /// The OS object (socket / pipe) for diagnostics; invalid once closed.
    [[nodiscard]] borrowed_handle native() const noexcept;

    /// Sends one message; returns when it, and everything queued before it, is written.
    /// @throws std::system_error: errc::peer_gone, errc::message_too_large, errc::closed.
    void send(std::span<const std::byte> data);
    void send(std::string_view text);  ///< as above, for text
    void send(std::span<const std::byte> data, std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing
    void send(std::string_view text, std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing

    /// Queues one message; it is written when the buffer fills, or by the next send(),
    /// flush(), receive*() or close(). Same errors as send() (a full buffer is written here).
    void send_more(std::span<const std::byte> data);
    void send_more(std::string_view text);  ///< as above, for text
    void send_more(std::span<const std::byte> data, std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing
    void send_more(std::string_view text, std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing

    /// Writes everything queued by send_more() or post().
    void flush();
    void flush(std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing

    /// Never blocks: queues one message and writes what the OS takes now; the rest is written
    /// as the channel drains — by the tether::poller this channel is registered with, or by
    /// the next send(), flush(), receive*() or flush_some(). For event loops. The queue has no
    /// bound of its own, as in libuv and Asio: a peer that never reads lets it grow, so a loop
    /// that must bound its memory watches queued_bytes() (and stops posting, or drops the peer).
    /// @throws std::system_error: errc::peer_gone, errc::message_too_large, errc::closed.
    void post(std::span<const std::byte> data);
    void post(std::string_view text);  ///< as above, for text
    void post(std::span<const std::byte> data, std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing
    void post(std::string_view text, std::error_code& ec);  ///< as above, for text, reporting failure in `ec`
    /// As post(), with up to 64 handles (consumed either way).
    void post_with_handles(std::span<const std::byte> data, std::vector<unique_handle>&& handles,
                           std::error_code& ec);
    /// Never blocks: writes what the OS takes now of the queue.
    /// @returns true if nothing is left queued.
    bool flush_some(std::error_code& ec);
    /// Bytes queued by send_more() or post() and not yet written.
    [[nodiscard]] std::size_t queued_bytes() const noexcept;

    /// Sends a handle (with an empty payload); the peer receives it in message::handles. Our copy
    /// is closed once the frame is written; it is closed as well if sending fails (a gone peer
    /// cannot receive it). The peer is given the handle only by the write that carries its frame
    /// (Windows: it is duplicated into the peer right before that write, once every earlier
    /// write has completed), so a frame that is never written leaves no copy in the peer. If
    /// the peer closes its end while that very write is in flight, the copy is taken back out of
    /// it, but a hostile peer may have copied it within its own process by then: it was a
    /// connected peer when it was given the handle.
    void send_handle(unique_handle&& h);
    void send_handle(unique_handle&& h, std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing
    /// Sends a payload with up to 64 handles in one message. `handles` is consumed either way.
    void send_with_handles(std::span<const std::byte> data, std::vector<unique_handle>&& handles);
    /// As above, reporting failure in `ec` instead of throwing.
    void send_with_handles(std::span<const std::byte> data, std::vector<unique_handle>&& handles,
                           std::error_code& ec);

    /// Blocks for the next message. Once goodbye or vanished was received, returns it again.
    /// @throws std::system_error: errc::protocol_error / errc::message_too_large (the channel
    ///         is closed then), errc::closed, or an OS error.
    message receive();
    /// On error sets `ec` and returns an empty data message (check `ec` first).
    message receive(std::error_code& ec);
    /// As receive(), into `m`, whose contents it replaces. The storage of `m`'s payload is
    /// reused, so a loop that receives many small messages into one `message` allocates nothing
    /// per message. On error `m` is left an empty data message.
    void receive_into(message& m);
    void receive_into(message& m, std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing
    /// As receive(); nullopt if nothing complete arrived within `timeout` (the error_code
    /// overload also sets errc::timed_out then). A partial frame stays buffered for the next call.
    std::optional<message> receive_for(milliseconds timeout);
    std::optional<message> receive_for(milliseconds timeout, std::error_code& ec);  ///< as above, reporting failure in `ec` instead of throwing

    /// Never blocks: the next message if one is complete now (already buffered, or readable
    /// without waiting); nullopt otherwise (the error_code form sets errc::would_block then).
    /// Also writes what it can of the queue, as receive() does.
    std::optional<message> try_receive();
    std::optional<message> try_receive(std::error_code& ec);  ///< as above, reporting failure (and errc::would_block) in `ec`

    /// As receive(), joined with the peer's process: on vanished, waits up to `reap_timeout`
    /// for `peer` to end and records its exit status in message::peer_status, so describe()
    /// says "vanished: killed by signal 9 (SIGKILL)". (End-of-file can come a moment before
    /// the process is reapable, hence the wait.)
    message receive(child& peer, milliseconds reap_timeout = std::chrono::seconds(5));
    /// As receive(child&, milliseconds), bounded by `timeout` as receive_for(milliseconds).
    std::optional<message> receive_for(milliseconds timeout, child& peer,
                                       milliseconds reap_timeout = std::chrono::seconds(5));

    /// Flushes, sends goodbye, closes. The handle is closed even when this fails. If the peer's
    /// goodbye (or its vanishing) was already received, just closes: nobody is there to hear it.
    /// @throws std::system_error (e.g. errc::peer_gone if the peer is already gone).
    void close();
    void close(std::error_code& ec) noexcept;  ///< as above, reporting failure in `ec` instead of throwing

    struct state;  ///< internal (src/detail/channel_state.hpp)

private:
    friend channel_pair make_channel(channel_options);
    friend detail::channel_source* detail::source_of(channel& ch) noexcept;
    enum class send_mode { now, batched, nowait };
    std::error_code send_frame(std::span<const std::byte> data, std::vector<unique_handle>& handles, send_mode mode);
    std::optional<message> receive_until(const detail::deadline& d, std::error_code& ec);
    std::unique_ptr<state> s_;
};

/// What make_channel() returns.
struct channel_pair {
    channel ours;          ///< our end, open
    unique_handle theirs;  ///< the peer's end: pass it to a child (spawn_options::pass)
};

}  // namespace tether
