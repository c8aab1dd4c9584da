// Portable: one channel end's steps (detail/channel_state.hpp) — framing and write coalescing
// into the engine, writes that never block, the handles given to the peer only right before
// the write that carries them, read buffering, goodbye and vanished, and the release of
// everything on close. Both drivers use them: the blocking calls (src/channel.cpp) in loops
// with a deadline, the poller's pump (src/channel_source.cpp) once per readiness.
#include <tether/channel.hpp>
#include <tether/error.hpp>

#include "detail/channel_state.hpp"

#include <array>
#include <utility>

namespace tether {

namespace detail {
std::string channel_where(borrowed_handle h) { return "channel (" + detail::describe_handle(h.get()) + ")"; }
}  // namespace detail

channel::state::state(detail::endpoint_ptr e, channel_options o)
    : ep(std::move(e)),
      opt(o),
      eng(o.max_message_size, detail::channel_max_out_of_band()),
      native(ep ? detail::channel_native(*ep) : borrowed_handle()) {}

channel::state::~state() { drop(); }

std::string channel::state::where() const {
    return detail::channel_where(ep ? native : borrowed_handle());
}

void channel::state::drop() noexcept {
    // Used by close(), the destructor and after a protocol error (when nothing the peer sent
    // can be trusted any more). Handles exported for frames that were never written must not
    // stay in the peer: it never saw their values. A poller watching this end forgets it first
    // (its watch must go before the descriptor does).
    if (auto* o = std::exchange(observer, nullptr)) o->source_gone(observer_id);
    if (ep) release_unreceived();
    if (ep) {
        std::vector<std::uint64_t> wire;
        try {
            auto unsent = eng.discard_output(wire);
            detail::channel_unexport(*ep, wire, unsent);
        } catch (const std::bad_alloc&) {  // nothing better to do: the handles close with `unsent`
        }
    }
    ep.reset();
    eng.clear();
}

void channel::state::release_unreceived() noexcept {
    // Bounded: at most this many reads (each at most the engine's buffer, 4 KiB to 64 KiB), so
    // closing never turns into draining a peer that keeps sending.
    constexpr int max_reads = 512;
    try {
        int reads = 0;
        for (;;) {
            std::error_code ec;
            detail::frame f;
            auto st = eng.next_frame(f, ec);
            if (st == detail::frame_reader::status::error) return;
            if (st == detail::frame_reader::status::frame) {
                std::vector<unique_handle> handles;  // closed here
                if (detail::channel_import_handles(*ep, f.wire_handles, eng.arrived(), handles)) return;
                continue;
            }
            bool eof = false;
            if (++reads > max_reads || read_now(eof) || eof) return;
        }
    } catch (const std::bad_alloc&) {  // what was imported is closed; the rest stays
    }
}

std::error_code channel::state::queue(detail::frame_kind kind, std::span<const std::byte> payload,
                                      std::vector<unique_handle>& handles) {
    if (peer_gone) return errc::peer_gone;
    if (payload.size() > opt.max_message_size || payload.size() > UINT32_MAX) return errc::message_too_large;
    if (handles.size() > detail::max_handles_per_frame) return errc::invalid_argument;
    std::vector<unique_handle> oob;
    if (handles.empty()) {  // plain data, the common case: nothing to export
        eng.queue_frame(kind, {}, payload, oob);
        return {};
    }
    for (const auto& h : handles)
        if (!h) return errc::invalid_argument;
    std::vector<std::uint64_t> wire;
    if (auto ec = detail::channel_export_handles(*ep, handles, wire, oob)) return ec;
    eng.queue_frame(kind, wire, payload, oob);
    return {};
}

std::error_code channel::state::write_now() {
    std::error_code ec;
    bool push_failed = false;
    while (eng.has_output()) {
        std::size_t n = 0;
        push_failed = static_cast<bool>(ec = push_next());
        if (!ec) {
            std::array<std::span<const std::byte>, 1> parts{eng.next_output()};
            n = detail::channel_write_some(*ep, parts, eng.next_handles(), ec);
        }
        if (ec == errc::would_block) return {};
        if (ec) break;
        eng.wrote(n);
    }
    if (ec == errc::peer_gone || push_failed) {
        // Nobody will read the rest: drop it now (taking exported copies back), so later sends
        // fail at once and a receive goes on to the peer's goodbye or end-of-file. A frame whose
        // handles could not be given to a live peer cannot be written either, nor what follows.
        peer_gone = ec == errc::peer_gone;
        std::vector<std::uint64_t> wire;
        auto unsent = eng.discard_output(wire);
        detail::channel_unexport(*ep, wire, unsent);
    }
    return ec;
}

std::error_code channel::state::push_next() {
    std::span<const unique_handle> handles;
    std::span<std::uint64_t> wire;
    if (!eng.next_push(handles, wire)) return {};
    if (detail::channel_writing(*ep)) {
        // The write in flight may still fail, and then the frame with these handles is never
        // written: wait for its end (a write of nothing only collects it; would_block while
        // it goes on) before the peer is given anything.
        std::vector<unique_handle> none;
        std::error_code ec;
        (void)detail::channel_write_some(*ep, {}, none, ec);
        if (ec) return ec;
    }
    if (auto ec = detail::channel_push_handles(*ep, handles, wire)) return ec;
    eng.pushed();
    return {};
}

std::error_code channel::state::flush_until(const detail::deadline& d) {
    for (;;) {
        if (auto ec = write_now()) return ec;
        if (!eng.has_output() && !detail::channel_writing(*ep)) return {};
        if (auto ec = detail::channel_wait(*ep, false, true, d)) return ec;
    }
}

std::error_code channel::state::send_large(detail::frame_kind kind, std::span<const std::byte> payload,
                                           std::vector<unique_handle>& handles) {
    // Queued frames first; then this frame's header (and handles) through the queue and its
    // payload in place, so a large payload is never copied.
    if (auto ec = flush_until(detail::deadline::never())) return ec;
    std::vector<std::uint64_t> wire;
    std::vector<unique_handle> oob;
    if (auto ec = detail::channel_export_handles(*ep, handles, wire, oob)) return ec;
    if (auto ec = detail::channel_push_handles(*ep, oob, wire)) {
        peer_gone = ec == errc::peer_gone;
        detail::channel_unexport(*ep, wire, oob);
        return ec;
    }
    std::vector<std::byte> head;
    detail::append_frame_head(head, kind, wire, payload.size());
    std::array<std::span<const std::byte>, 2> parts{std::span<const std::byte>(head), payload};
    std::size_t first = 0;
    std::error_code ec;
    while (first < parts.size()) {
        auto n = detail::channel_write_some(*ep, std::span(parts).subspan(first), oob, ec);
        if (ec == errc::would_block) {
            if ((ec = detail::channel_wait(*ep, false, true, detail::deadline::never()))) break;
            continue;
        }
        if (ec) break;
        for (; first < parts.size() && n >= parts[first].size(); ++first) n -= parts[first].size();
        if (first < parts.size()) parts[first] = parts[first].subspan(n);
    }
    if (ec) {
        peer_gone = ec == errc::peer_gone;
        detail::channel_unexport(*ep, wire, oob);  // none of it reached the peer whole
        return ec;
    }
    // A Windows write may still be in flight; if it fails, the frame never arrived whole, so
    // the copies pushed for it are taken back (unexport: Windows; closed on POSIX).
    if (auto fec = flush_until(detail::deadline::never())) {
        peer_gone = peer_gone || fec == errc::peer_gone;
        detail::channel_unexport(*ep, wire, oob);
        return fec;
    }
    return {};
}

std::optional<message> channel::state::next_buffered(std::error_code& ec) {
    message m;
    if (!next_buffered_into(m, ec)) return std::nullopt;
    return m;
}

bool channel::state::next_buffered_into(message& out, std::error_code& ec) {
    detail::frame_kind kind{};
    // A frame without handles, whole in the buffer, goes straight into the storage of `out`'s
    // old payload: a receiver that reuses one message (receive_into) allocates nothing per
    // message. Any other frame is assembled in `scratch`.
    bool plain = true;
    auto st = eng.next_plain_frame(out.payload, kind, ec);
    if (st == detail::frame_reader::status::need_more) {
        plain = false;
        st = eng.next_frame(scratch, ec);
        kind = scratch.kind;
        if (st == detail::frame_reader::status::frame) out.payload = std::move(scratch.payload);
    }
    if (st != detail::frame_reader::status::frame) return false;
    out.handles.clear();
    out.peer_status.reset();
    out.peer_running = false;
    if (kind == detail::frame_kind::goodbye) {
        out.what = message::kind::goodbye;
        out.payload.clear();
        ended = out.what;
        return true;
    }
    out.what = message::kind::data;
    if (!plain && !scratch.wire_handles.empty()) {
        ec = detail::channel_import_handles(*ep, scratch.wire_handles, eng.arrived(), out.handles);
        if (ec) return false;
    }
    return true;
}

std::error_code channel::state::read_now(bool& eof) {
    eof = false;
    if (eng.too_many_unclaimed()) return errc::protocol_error;
    std::error_code ec;
    auto space = eng.input_space();
    auto n = detail::channel_read_some(*ep, space, eng.arrived(), ec);
    if (ec) return ec;
    eof = n == 0;
    if (!eof) eng.input_commit(n);
    return {};
}

message channel::state::vanish() {
    // A frame cut short by end-of-file means the peer died while sending it: it vanished, as
    // any other end without goodbye (the partial frame is dropped).
    ended = message::kind::vanished;
    return message{*ended, {}, {}, {}, false};
}

std::optional<message> channel::state::receive(const detail::deadline& d, std::error_code& ec) {
    message m;
    if (!receive_into(d, m, ec)) return std::nullopt;
    return m;
}

bool channel::state::receive_into(const detail::deadline& d, message& out, std::error_code& ec) {
    ec.clear();
    if (ended) {
        out = message{*ended, {}, {}, {}, false};
        return true;
    }
    for (;;) {
        if (next_buffered_into(out, ec)) return true;
        if (ec) break;
        // A peer that is gone shows up below as goodbye or vanished, so peer_gone is no error.
        if (auto we = write_now(); we && we != errc::peer_gone) {
            ec = we;
            break;
        }
        bool eof = false;
        ec = read_now(eof);
        if (!ec && eof) {
            out = vanish();
            return true;
        }
        if (!ec) continue;
        if (ec != errc::would_block) break;
        // Bounded by the deadline itself, not by the socket's readiness: a peer that drains our
        // queue keeps it writable, and each pass would write a little more.
        if (d.expired()) {
            ec = errc::timed_out;
            return false;
        }
        bool want_write = eng.has_output() || detail::channel_writing(*ep);
        if ((ec = detail::channel_wait(*ep, true, want_write, d))) {
            if (ec == errc::timed_out) return false;
            break;
        }
    }
    // protocol_error, message_too_large or an OS error: the channel cannot be trusted any more.
    drop();
    return false;
}

}  // namespace tether
