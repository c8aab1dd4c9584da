// Portable: the channel — framing, write coalescing, read buffering, goodbye and vanished.
// The backend (src/<backend>/channel.cpp, hooks in detail/channel_backend.hpp) moves the bytes
// and the handles.
#include <tether/channel.hpp>
#include <tether/error.hpp>

#include "detail/channel_backend.hpp"
#include "detail/frame.hpp"

#include <algorithm>
#include <array>

namespace tether {
namespace {

using clock = std::chrono::steady_clock;

/// send_more() buffers up to this many bytes before writing.
constexpr std::size_t send_buffer_size = 64 * 1024;
/// Handles that arrived out of band but that no frame has claimed yet. A well-behaved peer
/// stays below two writes' worth (one being decoded, one just read); more is a broken peer
/// trying to exhaust our descriptor table.
std::size_t max_unclaimed_handles() { return 2 * detail::channel_max_out_of_band(); }

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

struct channel::state {
    state(detail::endpoint_ptr e, channel_options o)
        : ep(std::move(e)), opt(o), reader(detail::frame_limits{o.max_message_size, detail::max_handles_per_frame}) {}

    detail::endpoint_ptr ep;
    channel_options opt;
    detail::frame_reader reader;
    std::vector<std::byte> out;               // frames queued by send_more()
    std::vector<unique_handle> out_handles;   // out-of-band handles that go with `out`
    std::deque<unique_handle> arrived;        // out-of-band handles not yet claimed by a frame
    std::optional<message::kind> ended;       // goodbye or vanished, once seen

    std::string where() const {
        return "channel (descriptor " + to_handle_string(ep ? detail::channel_native(*ep) : borrowed_handle()) + ")";
    }
    std::error_code flush();
    std::error_code queue(detail::frame_kind kind, std::span<const std::byte> payload,
                          std::vector<unique_handle>& handles);
    std::error_code write_large(std::span<const std::byte> header, std::span<const std::byte> payload,
                                std::vector<unique_handle>& oob);
    std::optional<message> receive(detail::deadline_t deadline, std::error_code& ec);
    std::error_code read_more(detail::deadline_t deadline, bool& eof);
    message to_message(detail::frame& f, std::error_code& ec);
    void drop() noexcept;
};

void channel::state::drop() noexcept {
    // Closes the endpoint and releases everything buffered, including descriptors that arrived
    // but were not claimed. Used by close() and after a protocol error (when nothing the peer
    // sent can be trusted any more).
    ep.reset();
    out.clear();
    out_handles.clear();
    arrived.clear();
}

std::error_code channel::state::flush() {
    if (out.empty() && out_handles.empty()) return {};
    std::array<std::span<const std::byte>, 1> parts{std::span<const std::byte>(out)};
    auto ec = detail::channel_write(*ep, parts, out_handles);  // closes out_handles either way
    out.clear();
    return ec;
}

std::error_code channel::state::write_large(std::span<const std::byte> header, std::span<const std::byte> payload,
                                            std::vector<unique_handle>& oob) {
    // Queued frames first, then this frame's header and payload in one gathered write: the
    // payload is never copied into the buffer.
    for (auto& h : oob) out_handles.push_back(std::move(h));
    oob.clear();
    std::array<std::span<const std::byte>, 3> parts{std::span<const std::byte>(out), header, payload};
    auto ec = detail::channel_write(*ep, parts, out_handles);
    out.clear();
    return ec;
}

std::error_code channel::state::queue(detail::frame_kind kind, std::span<const std::byte> payload,
                                      std::vector<unique_handle>& handles) {
    if (payload.size() > opt.max_message_size || payload.size() > UINT32_MAX) return errc::message_too_large;
    if (handles.size() > detail::max_handles_per_frame) return errc::invalid_argument;
    for (const auto& h : handles)
        if (!h) return errc::invalid_argument;
    std::vector<std::uint64_t> wire;
    std::vector<unique_handle> oob;
    if (auto ec = detail::channel_export_handles(*ep, handles, wire, oob)) return ec;
    // One write carries at most channel_max_out_of_band() handles: write what is queued first.
    if (out_handles.size() + oob.size() > detail::channel_max_out_of_band()) {
        if (auto ec = flush()) return ec;
    }
    if (payload.size() >= send_buffer_size / 2) {
        std::vector<std::byte> head;
        detail::append_frame_head(head, kind, wire, payload.size());
        return write_large(head, payload, oob);
    }
    if (out.size() + detail::frame_header_size + wire.size() * detail::wire_handle_size + payload.size() > send_buffer_size) {
        if (auto ec = flush()) return ec;
    }
    detail::append_frame(out, kind, wire, payload);
    for (auto& h : oob) out_handles.push_back(std::move(h));
    return {};
}

message channel::state::to_message(detail::frame& f, std::error_code& ec) {
    message m;
    if (f.kind == detail::frame_kind::goodbye) {
        m.what = message::kind::goodbye;
        ended = m.what;
        return m;
    }
    ec = detail::channel_import_handles(*ep, f.wire_handles, arrived, m.handles);
    m.payload = std::move(f.payload);
    return m;
}

std::error_code channel::state::read_more(detail::deadline_t deadline, bool& eof) {
    if (arrived.size() > max_unclaimed_handles()) return errc::protocol_error;
    std::error_code ec;
    auto space = reader.space();
    auto n = detail::channel_read(*ep, space, arrived, deadline, ec);
    if (ec) return ec;
    eof = n == 0;
    if (eof) return reader.at_eof();  // a frame cut short is a protocol error, not a goodbye
    reader.commit(n);
    return {};
}

std::optional<message> channel::state::receive(detail::deadline_t deadline, std::error_code& ec) {
    ec.clear();
    if (ended) return message{*ended, {}, {}, {}, false};
    // Never wait for a reply to a request still sitting in our own buffer. A peer that is gone
    // shows up below as goodbye or vanished, so peer_gone is not an error here.
    if (auto fe = flush(); fe && fe != errc::peer_gone) {
        ec = fe;
        return std::nullopt;
    }
    for (;;) {
        detail::frame f;
        auto st = reader.next(f, ec);
        if (st == detail::frame_reader::status::frame) {
            auto m = to_message(f, ec);
            if (ec) break;
            return m;
        }
        if (st == detail::frame_reader::status::error) break;
        bool eof = false;
        ec = read_more(deadline, eof);
        if (ec == errc::timed_out) return std::nullopt;
        if (ec) break;
        if (eof) {
            ended = message::kind::vanished;
            return message{*ended, {}, {}, {}, false};
        }
    }
    // protocol_error, message_too_large or an OS error: the channel cannot be trusted any more.
    drop();
    return std::nullopt;
}

// ---- channel

channel_pair make_channel(channel_options options) {
    detail::endpoint_ptr ours;
    unique_handle theirs;
    if (auto ec = detail::channel_make_pair(ours, theirs)) throw_error(ec, "make_channel");
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
    auto native = to_handle_string(h);
    auto ep = detail::channel_open(std::move(h), ec, what);
    if (ec) throw_error(ec, "channel(descriptor " + native + "): " + what);
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
#define TETHER_CHANNEL_THROWING(call, what)            \
    std::error_code ec;                                \
    call;                                              \
    if (ec) throw_error(ec, (s_ ? s_->where() : std::string("channel")) + ": " + (what))

void channel::send_more(std::span<const std::byte> data, std::error_code& ec) {
    if (!is_open()) {
        ec = errc::closed;
        return;
    }
    std::vector<unique_handle> none;
    ec = s_->queue(detail::frame_kind::data, data, none);
}

void channel::flush(std::error_code& ec) {
    ec = is_open() ? s_->flush() : make_error_code(errc::closed);
}

void channel::send(std::span<const std::byte> data, std::error_code& ec) {
    send_more(data, ec);
    if (!ec) flush(ec);
}

void channel::send_with_handles(std::span<const std::byte> data, std::vector<unique_handle>&& handles,
                                std::error_code& ec) {
    std::vector<unique_handle> owned = std::move(handles);  // consumed whatever happens
    if (!is_open()) {
        ec = errc::closed;
        return;
    }
    ec = s_->queue(detail::frame_kind::data, data, owned);
    if (!ec) ec = s_->flush();
}

void channel::send_handle(unique_handle&& h, std::error_code& ec) {
    std::vector<unique_handle> v;
    v.push_back(std::move(h));
    send_with_handles({}, std::move(v), ec);
}

void channel::send(std::string_view text, std::error_code& ec) { send(bytes_of(text), ec); }
void channel::send_more(std::string_view text, std::error_code& ec) { send_more(bytes_of(text), ec); }

void channel::send(std::span<const std::byte> data) {
    TETHER_CHANNEL_THROWING(send(data, ec), "send of " + plural(data.size(), "byte"));
}
void channel::send(std::string_view text) { send(bytes_of(text)); }
void channel::send_more(std::span<const std::byte> data) {
    TETHER_CHANNEL_THROWING(send_more(data, ec), "send_more of " + plural(data.size(), "byte"));
}
void channel::send_more(std::string_view text) { send_more(bytes_of(text)); }
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

message channel::receive(std::error_code& ec) {
    if (!is_open()) {
        ec = errc::closed;
        return {};
    }
    auto m = s_->receive(std::nullopt, ec);
    return m ? std::move(*m) : message{};
}

std::optional<message> channel::receive_for(milliseconds timeout, std::error_code& ec) {
    if (!is_open()) {
        ec = errc::closed;
        return std::nullopt;
    }
    auto deadline = clock::now() + std::max(timeout, milliseconds(0));
    return s_->receive(deadline, ec);
}

message channel::receive() {
    // where() is taken first: a protocol error closes the channel, and the message should still
    // name the descriptor it happened on.
    auto where = s_ ? s_->where() : std::string("channel");
    std::error_code ec;
    auto m = receive(ec);
    if (ec) throw_error(ec, where + ": receive");
    return m;
}

std::optional<message> channel::receive_for(milliseconds timeout) {
    auto where = s_ ? s_->where() : std::string("channel");
    std::error_code ec;
    auto m = receive_for(timeout, ec);
    if (ec == errc::timed_out) return std::nullopt;
    if (ec) throw_error(ec, where + ": receive_for(" + std::to_string(timeout.count()) + " ms)");
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
        if (!ec) ec = s_->flush();
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    s_->drop();  // the handle is closed whatever happened above
}

void channel::close() {
    auto where = s_ ? s_->where() : std::string("channel");
    std::error_code ec;
    close(ec);
    if (ec) throw_error(ec, where + ": close (goodbye)");
}

#undef TETHER_CHANNEL_THROWING

}  // namespace tether
