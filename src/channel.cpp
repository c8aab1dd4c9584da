// Portable: tether::channel's public calls — making and opening channels, the send, post,
// flush and receive forms (each with an error_code form and a throwing form that names the
// channel), the join of a vanished peer with its exit, and close with goodbye. They drive the
// non-blocking steps of channel::state (src/channel_state.cpp); the backend
// (src/<backend>/channel.cpp, hooks in detail/backend.hpp, section 4) moves the bytes and the
// handles.
#include <tether/channel.hpp>
#include <tether/error.hpp>

#include "detail/channel_state.hpp"

#include <memory>
#include <string>
#include <utility>

namespace tether {
namespace {

/// send_more() queues up to this many bytes before writing; a payload of half of it or more
/// is written in place instead of being copied into the queue.
constexpr std::size_t send_buffer_size = 64 * 1024;

std::string plural(std::size_t n, const char* one) {
    return std::to_string(n) + " " + one + (n == 1 ? "" : "s");
}

}  // namespace

std::string_view message::text() const noexcept {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};  // NOLINT: bytes as chars
}

std::string message::describe() const {
    switch (what) {
        case kind::data: {
            std::string s = "data (" + plural(payload.size(), "byte");
            if (!handles.empty()) s += ", " + plural(handles.size(), "handle");
            return s + ")";
        }
        case kind::goodbye: return "goodbye";
        case kind::vanished:
            if (peer_status) return "vanished: " + peer_status->describe();
            if (peer_running) return "vanished: peer process still running (it dropped its end without goodbye)";
            return "vanished";
    }
    return "unknown";
}

namespace {
// Names a channel in an error message. Taken before the operation (a protocol error closes the
// channel, and the message should still name the descriptor it happened on), but made into text
// only when the operation failed: receive() and send_more() are on every message's path.
class channel_label {
public:
    explicit channel_label(const std::unique_ptr<channel::state>& s) noexcept
        : known_(s != nullptr), h_(s && s->ep ? s->native : borrowed_handle()) {}
    [[nodiscard]] std::string text() const { return known_ ? detail::channel_where(h_) : std::string("channel"); }

private:
    bool known_;
    borrowed_handle h_;
};
}  // namespace

// ---- channel

channel_pair make_channel(channel_options options) {
    detail::endpoint_ptr ours;
    unique_handle theirs;
    std::string what;
    if (auto ec = detail::channel_make_pair(ours, theirs, what)) throw_error(ec, "make_channel: " + what);
    channel_pair p;
    p.ours.s_ = std::make_unique<channel::state>(std::move(ours), options);
    p.theirs = std::move(theirs);
    return p;
}

channel::channel() noexcept = default;
channel::channel(channel&&) noexcept = default;
channel& channel::operator=(channel&&) noexcept = default;
channel::~channel() = default;  // closes the endpoint: no goodbye, no flush (see header)

channel::channel(unique_handle&& h, channel_options options) {
    std::error_code ec;
    std::string what;
    auto native = detail::describe_handle(h.get());  // "descriptor 5" / "handle 68"
    auto ep = detail::channel_open(std::move(h), ec, what);
    if (ec) throw_error(ec, "channel(" + native + "): " + what);
    s_ = std::make_unique<state>(std::move(ep), options);
}

channel channel::inherited(std::string_view name, channel_options options) {
    auto h = tether::inherited(name);
    std::error_code ec;
    std::string what;
    auto ep = detail::channel_open(std::move(h), ec, what);
    if (ec) throw_error(ec, "channel::inherited('" + std::string(name) + "'): " + what);
    channel c;
    c.s_ = std::make_unique<state>(std::move(ep), options);
    return c;
}

bool channel::is_open() const noexcept { return s_ && s_->ep; }

borrowed_handle channel::native() const noexcept {
    return is_open() ? detail::channel_native(*s_->ep) : borrowed_handle();
}

namespace {

std::span<const std::byte> bytes_of(std::string_view text) noexcept {
    return std::as_bytes(std::span(text.data(), text.size()));
}

}  // namespace

// Each operation has an error_code form that does the work and a throwing form that names the
// channel in its message.
#define TETHER_CHANNEL_THROWING(call, what) \
    channel_label label(s_);                \
    std::error_code ec;                     \
    call;                                   \
    if (ec) throw_error(ec, label.text() + ": " + (what))

namespace {
constexpr detail::frame_kind data_kind = detail::frame_kind::data;

// Tells a poller this channel is registered with what a call changed (output queued or
// written), once, when the call returns or throws: it re-arms for writability and goes on
// reporting frames left buffered.
class poller_notice {
public:
    explicit poller_notice(channel::state* s) noexcept : s_(s) {}
    poller_notice(const poller_notice&) = delete;
    poller_notice& operator=(const poller_notice&) = delete;
    ~poller_notice() {
        if (s_ != nullptr) s_->changed();
    }

private:
    channel::state* s_;
};
}  // namespace

// Queues one data message; a large payload with nothing queued before it goes out in place.
// `flush`: blocking callers (send, send_with_handles) write everything before returning.
std::error_code channel::send_frame(std::span<const std::byte> data, std::vector<unique_handle>& handles,
                                    send_mode mode) {
    if (!is_open()) return errc::closed;
    poller_notice notice(s_.get());
    if (mode == send_mode::now && data.size() >= send_buffer_size / 2 && data.size() <= s_->opt.max_message_size) {
        if (s_->peer_gone) return errc::peer_gone;
        for (const auto& h : handles)
            if (!h) return errc::invalid_argument;
        if (handles.size() > detail::max_handles_per_frame) return errc::invalid_argument;
        return s_->send_large(data_kind, data, handles);
    }
    if (mode == send_mode::batched) {
        // send_more(): the queue is written when this frame would overflow it, before the
        // frame joins it, so one flush never holds more than send_buffer_size bytes — a
        // Windows pipe holds 64 KiB, and a flush that does not fit would wait for a reader
        // that may be this very thread.
        std::size_t frame = detail::frame_header_size + handles.size() * detail::wire_handle_size + data.size();
        if (s_->eng.queued_bytes() > 0 && s_->eng.queued_bytes() + frame > send_buffer_size) {
            if (auto ec = s_->flush_until(detail::deadline::never())) return ec;
        }
    }
    if (auto ec = s_->queue(data_kind, data, handles)) return ec;
    switch (mode) {
        case send_mode::now: return s_->flush_until(detail::deadline::never());
        case send_mode::batched: return {};
        case send_mode::nowait: return s_->write_now();
    }
    return {};
}

void channel::send_more(std::span<const std::byte> data, std::error_code& ec) {
    // A burst's common case, kept short: no handles, and the frame fits the queue as it is, so
    // send_frame() would only queue it.
    if (is_open() && !s_->peer_gone && data.size() <= s_->opt.max_message_size &&
        s_->eng.queued_bytes() + detail::frame_header_size + data.size() <= send_buffer_size) {
        ec.clear();
        s_->eng.queue_data(data);
        s_->changed();
        return;
    }
    std::vector<unique_handle> none;
    ec = send_frame(data, none, send_mode::batched);
}

void channel::flush(std::error_code& ec) {
    if (!is_open()) {
        ec = errc::closed;
        return;
    }
    poller_notice notice(s_.get());
    ec = s_->flush_until(detail::deadline::never());
}

void channel::send(std::span<const std::byte> data, std::error_code& ec) {
    std::vector<unique_handle> none;
    ec = send_frame(data, none, send_mode::now);
}

void channel::send_with_handles(std::span<const std::byte> data, std::vector<unique_handle>&& handles,
                                std::error_code& ec) {
    std::vector<unique_handle> owned = std::move(handles);  // consumed whatever happens
    ec = send_frame(data, owned, send_mode::now);
}

void channel::post(std::span<const std::byte> data, std::error_code& ec) {
    std::vector<unique_handle> none;
    ec = send_frame(data, none, send_mode::nowait);
}

void channel::post_with_handles(std::span<const std::byte> data, std::vector<unique_handle>&& handles,
                                std::error_code& ec) {
    std::vector<unique_handle> owned = std::move(handles);  // consumed whatever happens
    ec = send_frame(data, owned, send_mode::nowait);
}

bool channel::flush_some(std::error_code& ec) {
    if (!is_open()) {
        ec = errc::closed;
        return false;
    }
    poller_notice notice(s_.get());
    ec = s_->write_now();
    return !ec && !s_->eng.has_output();
}

std::size_t channel::queued_bytes() const noexcept { return is_open() ? s_->eng.queued_bytes() : 0; }

void channel::send_handle(unique_handle&& h, std::error_code& ec) {
    std::vector<unique_handle> v;
    v.push_back(std::move(h));
    send_with_handles({}, std::move(v), ec);
}

void channel::send(std::string_view text, std::error_code& ec) { send(bytes_of(text), ec); }
void channel::send_more(std::string_view text, std::error_code& ec) { send_more(bytes_of(text), ec); }
void channel::post(std::string_view text, std::error_code& ec) { post(bytes_of(text), ec); }

void channel::send(std::span<const std::byte> data) {
    TETHER_CHANNEL_THROWING(send(data, ec), "send of " + plural(data.size(), "byte"));
}
void channel::send(std::string_view text) { send(bytes_of(text)); }
void channel::send_more(std::span<const std::byte> data) {
    TETHER_CHANNEL_THROWING(send_more(data, ec), "send_more of " + plural(data.size(), "byte"));
}
void channel::send_more(std::string_view text) { send_more(bytes_of(text)); }
void channel::post(std::span<const std::byte> data) {
    TETHER_CHANNEL_THROWING(post(data, ec), "post of " + plural(data.size(), "byte"));
}
void channel::post(std::string_view text) { post(bytes_of(text)); }
void channel::flush() { TETHER_CHANNEL_THROWING(flush(ec), "flush"); }
void channel::send_handle(unique_handle&& h) {
    auto value = to_handle_string(h);
    TETHER_CHANNEL_THROWING(send_handle(std::move(h), ec), "send_handle(" + value + ")");
}
void channel::send_with_handles(std::span<const std::byte> data, std::vector<unique_handle>&& handles) {
    auto n = handles.size();
    TETHER_CHANNEL_THROWING(send_with_handles(data, std::move(handles), ec),
                            "send of " + plural(data.size(), "byte") + " with " + plural(n, "handle"));
}

std::optional<message> channel::receive_until(const detail::deadline& d, std::error_code& ec) {
    if (!is_open()) {
        ec = errc::closed;
        return std::nullopt;
    }
    auto m = s_->receive(d, ec);
    s_->changed();  // frames may be left buffered for the poller to report
    return m;
}

message channel::receive(std::error_code& ec) {
    message m;
    receive_into(m, ec);
    return m;
}

void channel::receive_into(message& m, std::error_code& ec) {
    if (!is_open()) {
        ec = errc::closed;
        m = message{};
        return;
    }
    if (!s_->receive_into(detail::deadline::never(), m, ec)) m = message{};
    s_->changed();  // frames may be left buffered for the poller to report
}

void channel::receive_into(message& m) {
    channel_label label(s_);
    std::error_code ec;
    receive_into(m, ec);
    if (ec) throw_error(ec, label.text() + ": receive");
}

std::optional<message> channel::receive_for(milliseconds timeout, std::error_code& ec) {
    return receive_until(detail::deadline::after(timeout), ec);
}

std::optional<message> channel::try_receive(std::error_code& ec) {
    auto m = receive_until(detail::deadline::now(), ec);
    if (ec == errc::timed_out) ec = errc::would_block;
    return m;
}

std::optional<message> channel::try_receive() {
    channel_label label(s_);
    std::error_code ec;
    auto m = try_receive(ec);
    if (ec == errc::would_block) return std::nullopt;
    if (ec) throw_error(ec, label.text() + ": try_receive");
    return m;
}

message channel::receive() {
    channel_label label(s_);
    std::error_code ec;
    auto m = receive(ec);
    if (ec) throw_error(ec, label.text() + ": receive");
    return m;
}

std::optional<message> channel::receive_for(milliseconds timeout) {
    channel_label label(s_);
    std::error_code ec;
    auto m = receive_for(timeout, ec);
    if (ec == errc::timed_out) return std::nullopt;
    if (ec) throw_error(ec, label.text() + ": receive_for(" + std::to_string(timeout.count()) + " ms)");
    return m;
}

namespace {
void join_peer(message& m, child& peer, milliseconds reap_timeout) {
    if (!m.is_vanished() || !peer) return;
    // End-of-file comes when the kernel closes the peer's descriptors, a moment before the
    // process becomes reapable: wait for it, bounded.
    m.peer_status = peer.wait_for(reap_timeout);
    m.peer_running = !m.peer_status;
}
}  // namespace

message channel::receive(child& peer, milliseconds reap_timeout) {
    auto m = receive();
    join_peer(m, peer, reap_timeout);
    return m;
}

std::optional<message> channel::receive_for(milliseconds timeout, child& peer, milliseconds reap_timeout) {
    auto m = receive_for(timeout);
    if (m) join_peer(*m, peer, reap_timeout);
    return m;
}

void channel::close(std::error_code& ec) noexcept {
    ec.clear();
    if (!is_open()) return;  // closing twice is harmless
    // A peer that said goodbye or vanished is gone: it cannot hear a goodbye, so none is sent
    // (and closing is not an error then).
    if (s_->ended) {
        s_->drop();
        return;
    }
    try {
        std::vector<unique_handle> none;
        ec = s_->queue(detail::frame_kind::goodbye, {}, none);
        if (!ec) ec = s_->flush_until(detail::deadline::never());
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    s_->drop();  // the handle is closed whatever happened above
}

void channel::close() {
    channel_label label(s_);
    std::error_code ec;
    close(ec);
    if (ec) throw_error(ec, label.text() + ": close (goodbye)");
}

#undef TETHER_CHANNEL_THROWING

}  // namespace tether
