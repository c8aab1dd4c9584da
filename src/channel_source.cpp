// Portable: the channel as a tether::poller drives it (detail/poll_source.hpp) — what to watch,
// and the pump that writes the queue and moves messages into the caller's events. Built from
// the same non-blocking steps as the blocking calls (src/channel.cpp).
#include <tether/error.hpp>
#include <tether/poller.hpp>

#include "detail/channel_state.hpp"

namespace tether {

namespace detail {
channel_source* source_of(channel& ch) noexcept { return ch.s_.get(); }
}  // namespace detail

detail::source_watch channel::state::arm() noexcept {
    bool want_write = eng.has_output() || detail::channel_writing(*ep);
    return detail::channel_arm(*ep, want_write);
}

bool channel::state::has_work() const noexcept { return eng.has_buffered_input() || ended.has_value(); }

detail::pump_result channel::state::pump(std::vector<poll_event>& out, std::uint64_t token, std::size_t max) {
    using detail::pump_end;
    // The goodbye (or end) may have been received through the channel's own calls before.
    if (ended) return {*ended == message::kind::goodbye ? pump_end::goodbye : pump_end::vanished, 0, {}};
    // Writes first: a reply is never waited for while its request sits in our queue. A peer
    // that is gone is no error here: its end-of-file (or goodbye) follows on the read side.
    if (auto wec = write_now(); wec && wec != errc::peer_gone) return {pump_end::failed, 0, wec};
    detail::pump_result r;
    while (r.delivered < max) {
        std::error_code ec;
        if (auto m = next_buffered(ec)) {
            if (m->is_goodbye()) {
                r.end = pump_end::goodbye;
                return r;
            }
            poll_event e;
            e.what = poll_event::kind::message;
            e.msg = std::move(*m);
            e.token = token;
            out.push_back(std::move(e));
            ++r.delivered;
            continue;
        }
        bool eof = false;
        if (!ec) ec = read_now(eof);
        if (ec == errc::would_block) return r;
        if (!ec && !eof) continue;
        if (ec) return {pump_end::failed, r.delivered, ec};
        (void)vanish();
        r.end = pump_end::vanished;
        return r;
    }
    if (eng.has_buffered_input()) r.end = pump_end::more;  // the rest in the next wait
    return r;
}

}  // namespace tether
