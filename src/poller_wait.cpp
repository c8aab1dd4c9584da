// Portable: one poller wait — work that needs no waiting (buffered frames, polled children,
// overdue joins), then the backend's reactor (detail/backend.hpp, section 5), then each ready
// source serviced into events. The hot path of every message a poller delivers runs here, so
// the servicing of each kind of source sits beside the loop that calls it.
// Events travel in the `out` parameter of every function that makes one.
#include <tether/error.hpp>
#include <tether/poller.hpp>

#include "detail/poller_core.hpp"

namespace tether {
namespace detail {
namespace {

/// Messages one channel may deliver per wait: a flooding peer cannot starve the others.
constexpr std::size_t max_messages_per_wait = 64;

}  // namespace

void poller_core::emit(source_slot& s, poll_event::kind k, event_list& out) {
    poll_event e;
    e.what = k;
    e.token = s.token;
    out.push_back(std::move(e));
}

void poller_core::service(std::size_t i, unsigned events, event_list& out) {
    switch (slots[i].t) {
        case source_slot::type::child: service_child(i, out); break;
        case source_slot::type::pipe: service_pipe(i, events, out); break;
        // Readiness says nothing more to a channel than "try" (either sub-watch): its pump never
        // blocks.
        case source_slot::type::channel: service_channel(i, out); break;
        case source_slot::type::peer_watch: {
            auto waiter = slots[i].waiter;
            if (slots[waiter].tied)
                tie_exit_fired(waiter, out);
            else
                finish_peer_wait(waiter, false, out);
            break;
        }
    }
}

// A child source's process handle fired (or, polled, its period passed): reap() reports it.
void poller_core::service_child(std::size_t i, event_list& out) {
    bool ended = false;
    (void)reap(*slots[i].c, ended, out, !slots[i].polled);  // a process handle that fired: it ended
}

void poller_core::service_pipe(std::size_t i, unsigned events, event_list& out) {
    auto& s = slots[i];
    bool hup = (events & (ready_hangup | ready_error)) != 0;
    if ((s.what & watch_read) && (events & (ready_read | ready_hangup | ready_error))) emit(s, poll_event::kind::readable, out);
    if ((s.what & watch_write) && (events & ready_write) && !hup) emit(s, poll_event::kind::writable, out);
    if (hup) emit(s, poll_event::kind::hung_up, out);
    if (hup && s.tied) untie(i);  // the end came: no verdict is due
}

void poller_core::channel_ended(std::size_t i, poll_event ev, event_list& out) {
    ev.token = slots[i].token;
    out.push_back(std::move(ev));
    remove_slot(i);
}

// A channel that failed is closed: nothing the peer sends can be trusted any more. Its watch
// goes first (remove_slot), while its handles are still open.
void poller_core::channel_failed(std::size_t i, std::error_code ec, event_list& out) {
    poll_event e;
    e.what = poll_event::kind::failed;
    e.error = ec;
    e.token = slots[i].token;
    auto* ch = slots[i].ch;
    remove_slot(i);
    ch->close();
    out.push_back(std::move(e));
}

// Pumps a channel up to what is left of its max_messages_per_wait in this wait, then acts on
// how the pump ended. A channel can be serviced twice in one wait (queued as ready, and ready
// from the OS): the cap counts what it delivered in the whole wait.
void poller_core::service_channel(std::size_t i, event_list& out) {
    auto& s = slots[i];
    if (s.pumped_in != wait_number) {
        s.pumped_in = wait_number;
        s.pumped = 0;
    }
    auto pumped = s.ch->pump(out, s.token, max_messages_per_wait - s.pumped);
    s.pumped += pumped.delivered;
    switch (pumped.end) {
        case pump_end::idle: break;
        case pump_end::more: mark_ready(i); break;  // the rest on the next wait, without I/O
        case pump_end::goodbye: {
            poll_event e;
            e.what = poll_event::kind::goodbye;
            e.msg.what = message::kind::goodbye;
            return channel_ended(i, std::move(e), out);
        }
        case pump_end::vanished: return start_peer_wait(i, message{message::kind::vanished, {}, {}, {}, false}, out);
        case pump_end::failed: return channel_failed(i, pumped.error, out);
    }
    if (auto ec = watch_channel(i)) channel_failed(i, ec, out);
}

}  // namespace detail

std::size_t poller::wait(std::vector<poll_event>& out, milliseconds timeout) {
    std::error_code ec;
    auto n = wait(out, timeout, ec);
    if (ec) throw_error(ec, "poller::wait");
    return n;
}

std::size_t poller::wait(std::vector<poll_event>& out, milliseconds timeout, std::error_code& ec) {
    auto& core = *core_;
    out.clear();
    ec.clear();
    ++core.wait_number;
    auto d = detail::deadline::after(timeout);
    for (;;) {
        // Work that needs no waiting first: buffered frames, polled children, overdue joins.
        auto ready = std::move(core.ready);
        core.ready.clear();
        for (auto [i, gen] : ready)
            if (core.slots[i].live && core.slots[i].gen == gen) {
                core.slots[i].in_ready = false;  // only here: a slot is in `ready` at most once
                core.service(i, detail::ready_read, out);
            }
        core.check_fallbacks(out);
        auto until = out.empty() ? core.next_fallback(d) : detail::deadline::now();
        if (!core.ready.empty()) until = detail::deadline::now();
        core.scratch.clear();
        if ((ec = detail::reactor_wait(*core.r, until, core.scratch))) break;
        for (auto r : core.scratch) {
            auto i = static_cast<std::size_t>((r.key & 0xFFFFFFFFu) >> 1);
            auto gen = static_cast<std::uint32_t>(r.key >> 32);
            if (i < core.slots.size() && core.slots[i].live && core.slots[i].gen == gen)
                core.service(i, r.events, out);
        }
        if (!out.empty() || d.expired()) break;
    }
    return out.size();
}

}  // namespace tether
