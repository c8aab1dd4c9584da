// Portable: the poller's slot table — allocating and recycling slots (a generation per slot
// drops readiness that was queued before the slot was reused), the reactor watches of each
// source, and the notices a registered channel sends when its own calls change it. Every other
// poller file adds and removes sources only through these.
#include <tether/error.hpp>

#include "detail/poller_core.hpp"

#include <algorithm>
#include <string>

namespace tether::detail {

std::size_t poller_core::allocate() {
    if (!free_slots.empty()) {
        auto i = free_slots.back();
        free_slots.pop_back();
        return i;
    }
    if (slots.size() >= (std::size_t{1} << 31)) throw_error(errc::invalid_argument, "poller: too many sources");
    slots.emplace_back();
    return slots.size() - 1;
}

void poller_core::release(std::size_t i) noexcept {
    auto& s = slots[i];
    auto gen = s.gen + 1;
    s = source_slot{};
    s.gen = gen;  // stale readiness for this slot is dropped from now on
    free_slots.push_back(i);
}

source_slot& poller_core::add_source(std::uint64_t token, source_slot::type t) {
    if (by_token.count(token) != 0)
        throw_error(errc::invalid_argument, "poller::add: token " + std::to_string(token) + " is in use");
    auto i = allocate();
    auto& s = slots[i];
    s.t = t;
    s.live = true;
    s.token = token;
    by_token.emplace(token, i);
    return s;
}

void poller_core::unwatch_all(source_slot& s, std::size_t i) noexcept {
    if (s.t == source_slot::type::channel) {
        if (is_valid_native(s.watched.readable)) reactor_unwatch(*r, make_key(i, s.gen, 0), s.watched.readable);
        if (is_valid_native(s.watched.writable) && (s.watched.read_how & watch_read) == 0)
            reactor_unwatch(*r, make_key(i, s.gen, 1), s.watched.writable);
        s.watched = {};
        return;
    }
    if (is_valid_native(s.h) && !s.polled) reactor_unwatch(*r, make_key(i, s.gen, 0), s.h);
    s.h = invalid_native_handle();
}

void poller_core::remove_slot(std::size_t i) noexcept {
    if (i >= slots.size() || !slots[i].live) return;
    auto& s = slots[i];
    unwatch_all(s, i);
    if (s.ch != nullptr) s.ch->observe(nullptr, 0);
    if (s.peer_watch != no_slot) remove_slot(s.peer_watch);
    if (s.t == source_slot::type::child) {
        auto [b, e] = child_slots.equal_range(s.c);
        for (auto it = b; it != e; ++it)
            if (it->second == i) {
                child_slots.erase(it);
                break;
            }
        // Channels that waited for this child through this source poll for it from now on.
        for (auto k : fallback)
            if (slots[k].peer_via_child && slots[k].c == s.c && child_slots.count(s.c) == 0) slots[k].peer_via_child = false;
    }
    if (s.t != source_slot::type::peer_watch) by_token.erase(s.token);
    std::erase(fallback, i);
    release(i);
}

void poller_core::mark_ready(std::size_t i) {
    auto& s = slots[i];
    if (s.in_ready) return;
    s.in_ready = true;
    ready.emplace_back(i, s.gen);
}

// (Re)arms the reactor for a channel: readability always, write progress while output waits.
std::error_code poller_core::watch_channel(std::size_t i) {
    auto& s = slots[i];
    auto w = s.ch->arm();
    auto key0 = make_key(i, s.gen, 0), key1 = make_key(i, s.gen, 1);
    if ((w.read_how & watch_read) != 0) {  // one descriptor for both directions (POSIX)
        unsigned what = w.read_how | (is_valid_native(w.writable) ? w.write_how : 0u);
        unsigned before = is_valid_native(s.watched.readable)
                              ? s.watched.read_how | (is_valid_native(s.watched.writable) ? s.watched.write_how : 0u)
                              : 0u;
        if (what == before && (what & (watch_object | watch_process)) == 0) return {};
        if (auto ec = reactor_watch(*r, key0, w.readable, what, before != 0)) return ec;
        s.watched = w;
        return {};
    }
    // Separate objects (Windows events): one-shot watches, re-armed after each servicing.
    if (auto ec = reactor_watch(*r, key0, w.readable, w.read_how, false)) return ec;
    if (is_valid_native(s.watched.writable) && s.watched.writable != w.writable)
        reactor_unwatch(*r, key1, s.watched.writable);
    if (is_valid_native(w.writable)) {
        if (auto ec = reactor_watch(*r, key1, w.writable, w.write_how, false)) return ec;
    }
    s.watched = w;
    return {};
}

// Only the channel's own calls get here, between waits (a pump reports in its result).
void poller_core::source_changed(std::size_t i) noexcept {
    if (i >= slots.size() || !slots[i].live) return;
    auto& s = slots[i];
    if (s.awaiting_peer || s.ch == nullptr) return;
    try {
        if (s.ch->has_work()) mark_ready(i);
        if (auto ec = watch_channel(i)) mark_ready(i);  // the next wait reports it
    } catch (...) {
        mark_ready(i);
    }
}

}  // namespace tether::detail
