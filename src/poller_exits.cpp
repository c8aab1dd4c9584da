// Portable: the poller's joins of exits — a child source reports its child's exit, and a
// channel that reached end-of-file waits (bounded by peer_grace) for its peer's exit so its
// vanished event carries the status. Reaping, the peer watches, and the fallback polling of
// children without a process handle (Linux without pidfd) live here; pipes tied to a child
// are told of its exit from here (poller_ties.cpp).
#include "detail/poller_core.hpp"

#include <chrono>
#include <system_error>

namespace tether::detail {
namespace {

/// How long a vanished channel waits for its child's exit before it is reported without one
/// (the peer dropped its end but runs on) — as channel::receive(child&)'s default.
constexpr milliseconds peer_grace = std::chrono::seconds(5);
/// How often children without a process handle are checked (Linux without pidfd).
constexpr milliseconds fallback_period = milliseconds(10);

}  // namespace

std::vector<std::size_t> poller_core::sources_of(const child& c) const {
    std::vector<std::size_t> found;
    auto [b, e] = child_slots.equal_range(&c);
    for (auto it = b; it != e; ++it) found.push_back(it->second);
    return found;
}

// Reports a child source's end: `exited` with the status, or `failed` (reaped elsewhere).
void poller_core::emit_exit(std::size_t i, std::optional<exit_status> st, std::error_code ec, event_list& out) {
    poll_event e;
    e.what = ec ? poll_event::kind::failed : poll_event::kind::exited;
    e.token = slots[i].token;
    e.status = st;
    e.error = ec;
    out.push_back(std::move(e));
    remove_slot(i);
}

// Reaps `c` if it has ended, and reports it to everyone registered for it: `exited` for its
// child sources, `vanished` (with the status) for the channels waiting for it. `ended`: reaped
// now or before, or reaped behind our back (then without a status).
//
// Reaping closes the pidfd that child sources watch, so their watches go first (a closed
// number stays watched otherwise, and the kernel may hand it out again at once). A peek that
// reaps nothing (WNOWAIT) comes before all that, so a child still running costs one system
// call and no watch is touched.
std::optional<exit_status> poller_core::reap(child& c, bool& ended, event_list& out, bool known_ended) {
    ended = false;
    auto process = c.process_handle();
    if (!known_ended && !c.status() && process && !reactor_process_ended(process.get())) return std::nullopt;
    auto watchers = sources_of(c);
    for (auto k : watchers) unwatch_all(slots[k], k);
    std::optional<exit_status> st;
    std::error_code ec;
    try {
        st = c.try_wait();
    } catch (const std::system_error& e) {
        ec = e.code();  // reaped elsewhere
    }
    if (!st && !ec) {  // not ended after all: watch again
        for (auto k : watchers) {
            auto& w = slots[k];
            w.h = c.process_handle().get();
            if (!w.polled) (void)reactor_watch(*r, make_key(k, w.gen, 0), w.h, watch_process, false);
        }
        return std::nullopt;
    }
    ended = true;
    for (auto k : watchers) emit_exit(k, st, ec, out);
    std::vector<std::size_t> waiting;
    for (auto k : fallback)
        if (slots[k].live && slots[k].awaiting_peer && slots[k].c == &c) waiting.push_back(k);
    for (auto k : waiting) end_vanished(k, st, out);
    start_ties(c);
    return st;
}

void poller_core::end_vanished(std::size_t i, std::optional<exit_status> st, event_list& out) {
    poll_event e;
    e.what = poll_event::kind::vanished;
    e.msg.what = message::kind::vanished;
    e.msg.peer_status = st;
    e.msg.peer_running = !st && slots[i].c != nullptr && *slots[i].c && !slots[i].c->status();
    e.status = st;
    channel_ended(i, std::move(e), out);
}

// The channel reached end-of-file (or an error): its vanished event waits for the peer's exit.
void poller_core::start_peer_wait(std::size_t i, message m, event_list& out) {
    auto& s = slots[i];
    unwatch_all(s, i);
    bool ended = false;
    std::optional<exit_status> st;
    if (s.c != nullptr && *s.c) st = s.c->status() ? s.c->status() : reap(*s.c, ended, out);
    auto& cs = slots[i];  // reap() may have grown `slots`
    if (cs.c == nullptr || !*cs.c || st || ended) {
        poll_event e;
        e.what = poll_event::kind::vanished;
        m.peer_status = st;
        e.status = st;
        e.msg = std::move(m);
        channel_ended(i, std::move(e), out);
        return;
    }
    // End-of-file comes a moment before the process is reapable: wait for its exit without
    // blocking the loop, bounded by peer_grace.
    cs.awaiting_peer = true;
    cs.peer_deadline = deadline::after(peer_grace);
    fallback.push_back(i);
    for (auto k : sources_of(*cs.c))
        if (!slots[k].polled) {
            cs.peer_via_child = true;  // its exit reaches us through that source: reap() ends us
            return;
        }
    watch_exit(i);  // without a process handle: checked with the fallbacks
}

// A watch of slots[i].c's exit that reaps nothing: a peer_watch slot over our own duplicate of
// its process handle, serviced for slot i. None (checked with the fallbacks) if the child has
// no process handle or the watch fails.
void poller_core::watch_exit(std::size_t i) {
    std::error_code ec;
    auto process = slots[i].c->process_handle();
    auto dup = process ? process.duplicate(ec) : unique_handle();
    if (!dup) return;
    auto w = allocate();
    auto& pw = slots[w];  // slots[i] may have moved: use it by index below
    pw.t = source_slot::type::peer_watch;
    pw.live = true;
    pw.own = std::move(dup);
    pw.h = pw.own.get();
    pw.waiter = i;
    slots[i].peer_watch = w;
    if (reactor_watch(*r, make_key(w, pw.gen, 0), pw.h, watch_process, false)) {
        slots[i].peer_watch = no_slot;
        pw.h = invalid_native_handle();
        remove_slot(w);
    }
}

// The peer's process handle fired, or the grace period is over (`timed_out`).
void poller_core::finish_peer_wait(std::size_t i, bool timed_out, event_list& out) {
    auto& s = slots[i];
    if (auto st = s.c->status()) return end_vanished(i, st, out);  // reaped by the user meanwhile
    if (!*s.c) return end_vanished(i, std::nullopt, out);
    bool ended = false;
    (void)reap(*s.c, ended, out);  // ends this channel (and any other waiting for the same child)
    if (ended || !slots[i].live) return;
    if (timed_out) return end_vanished(i, std::nullopt, out);
    // The handle fired but the child is not reapable yet? Keep waiting (fallback polling).
    auto& cs = slots[i];
    if (cs.peer_watch != no_slot) remove_slot(cs.peer_watch);
    cs.peer_watch = no_slot;
}

void poller_core::check_fallbacks(event_list& out) {
    auto pending = fallback;  // finishing removes entries
    for (auto i : pending) {
        if (i >= slots.size() || !slots[i].live) continue;
        auto& s = slots[i];
        if (s.t == source_slot::type::child) {
            service_child(i, out);
            continue;
        }
        if (s.tied) {
            check_tie(i, out);
            continue;
        }
        if (!s.awaiting_peer) continue;
        bool watched = s.peer_watch != no_slot || s.peer_via_child;
        bool lost = s.c->status().has_value() || !*s.c;  // reaped (or moved away) by the user
        if (lost || !watched || s.peer_deadline.expired()) finish_peer_wait(i, s.peer_deadline.expired(), out);
    }
}

deadline poller_core::next_fallback(deadline d) const {
    for (auto i : fallback) {
        const auto& s = slots[i];
        bool polled = s.t == source_slot::type::child || (s.peer_watch == no_slot && !s.peer_via_child);
        if (s.tied) polled = s.tie_end.is_never() && s.peer_watch == no_slot;
        d = d.earlier(polled ? deadline::after(fallback_period) : s.tied ? s.tie_end : s.peer_deadline);
    }
    return d;
}

}  // namespace tether::detail
