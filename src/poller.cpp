// Portable: tether::poller — sources, tokens, the per-wait message cap, the join of a vanished
// channel with its child's exit, and the fallbacks, over the backend's reactor
// (detail/backend.hpp, section 5: epoll on Linux, a completion port on Windows). A channel is seen
// only as a detail::channel_source (detail/poll_source.hpp): watched, pumped, observed.
// Events travel in the `out` parameter of every function that makes one.
#include <tether/error.hpp>
#include <tether/poller.hpp>

#include "detail/poll_source.hpp"
#include "detail/backend.hpp"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace tether {
namespace detail {
namespace {

constexpr std::size_t no_slot = std::numeric_limits<std::size_t>::max();
/// Messages one channel may deliver per wait: a flooding peer cannot starve the others.
constexpr std::size_t max_messages_per_wait = 64;
/// How long a vanished channel waits for its child's exit before it is reported without one
/// (the peer dropped its end but runs on) — as channel::receive(child&)'s default.
constexpr milliseconds peer_grace = std::chrono::seconds(5);
/// How often children without a process handle are checked (Linux without pidfd).
constexpr milliseconds fallback_period = milliseconds(10);

// A watch key: generation (32 bits) | slot (31 bits) | sub-watch (1 bit: 0 main, 1 write).
std::uint64_t make_key(std::size_t slot, std::uint32_t gen, unsigned sub) {
    return (static_cast<std::uint64_t>(gen) << 32) | (static_cast<std::uint64_t>(slot) << 1) | sub;
}

// A second owner of a handle we only borrow (duplicate() is a member of the owner type).
unique_handle duplicate_of(borrowed_handle h, std::error_code& ec) {
    unique_handle view(h.get());
    auto dup = view.duplicate(ec);
    (void)view.release();  // the view never owned it
    return dup;
}

}  // namespace

struct source_slot {
    enum class type : std::uint8_t { child, pipe, channel, peer_watch };
    type t{type::pipe};
    bool live{false};
    std::uint32_t gen{0};
    std::uint64_t token{0};
    child* c{nullptr};          // child; peer_watch: the peer; channel: its peer (may be null)
    native_handle h{invalid_native_handle()};  // pipe end, or the process handle watched
    unique_handle own;          // peer_watch: our duplicate of the peer's process handle
    unsigned what{0};           // pipe: watch flags
    bool polled{false};         // a child without process handle: checked every fallback_period
    // Channels.
    channel_source* ch{nullptr};
    source_watch watched{};         // what the reactor watches now
    bool in_ready{false};           // queued in poller_core::ready
    std::uint64_t pumped_in{0};     // the wait() that `pumped` counts for
    std::size_t pumped{0};          // messages delivered in that wait (at most the cap)
    bool awaiting_peer{false};      // vanished; waiting for the peer's exit
    bool peer_via_child{false};     // ... which a child source of the same child watches
    deadline peer_deadline{deadline::never()};
    std::size_t peer_watch{no_slot};
    std::size_t waiter{no_slot};  // peer_watch: the channel slot that waits
};

// The core is also the observer every registered channel reports to (under its slot index):
// its address stays put for the poller's life (a moved poller moves the pointer to it).
struct poller_core final : source_observer {
    reactor_ptr r;
    std::vector<source_slot> slots;
    std::vector<std::size_t> free_slots;
    std::unordered_map<std::uint64_t, std::size_t> by_token;
    std::unordered_multimap<const child*, std::size_t> child_slots;  // the child sources of each child
    std::vector<std::pair<std::size_t, std::uint32_t>> ready;  // channels with buffered work
    std::vector<std::size_t> fallback;  // polled children and channels awaiting a peer
    std::vector<reactor_ready> scratch;
    std::uint64_t wait_number{0};  // counts wait() calls: the message cap is per wait

    std::size_t allocate();
    void release(std::size_t i) noexcept;
    void unwatch_all(source_slot& s, std::size_t i) noexcept;
    std::error_code watch_channel(std::size_t i);
    void mark_ready(std::size_t i);
    source_slot& add_source(std::uint64_t token, source_slot::type t);
    void remove_slot(std::size_t i) noexcept;

    // source_observer: a registered channel's own calls changed it, or it is closing.
    void source_changed(std::size_t i) noexcept override;
    void source_gone(std::size_t i) noexcept override { remove_slot(i); }

    using event_list = std::vector<poll_event>;
    void emit(source_slot& s, poll_event::kind k, event_list& out);
    void service(std::size_t i, unsigned events, event_list& out);
    void service_child(std::size_t i, event_list& out);
    void service_pipe(std::size_t i, unsigned events, event_list& out);
    void service_channel(std::size_t i, event_list& out);
    void channel_ended(std::size_t i, poll_event ev, event_list& out);
    void channel_failed(std::size_t i, std::error_code ec, event_list& out);
    std::vector<std::size_t> sources_of(const child& c) const;
    void emit_exit(std::size_t i, std::optional<exit_status> st, std::error_code ec, event_list& out);
    std::optional<exit_status> reap(child& c, bool& ended, event_list& out, bool known_ended = false);
    void start_peer_wait(std::size_t i, message m, event_list& out);
    void end_vanished(std::size_t i, std::optional<exit_status> st, event_list& out);
    void finish_peer_wait(std::size_t i, bool timed_out, event_list& out);
    void check_fallbacks(event_list& out);
    deadline next_fallback(deadline d) const;
};

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

// ---- events

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
        case source_slot::type::peer_watch: finish_peer_wait(slots[i].waiter, false, out); break;
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

// ---- vanished, joined with the peer's exit

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
    std::error_code ec;
    auto process = cs.c->process_handle();
    auto dup = process ? duplicate_of(process, ec) : unique_handle();
    if (!dup) return;  // no process handle: checked with the fallbacks
    auto w = allocate();
    auto& pw = slots[w];  // `cs` may have moved: use slots[i] below
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
        d = d.earlier(polled ? deadline::after(fallback_period) : s.peer_deadline);
    }
    return d;
}

}  // namespace detail

// ---- poll_event

std::string poll_event::describe() const {
    std::string s = "token " + std::to_string(token) + ": ";
    switch (what) {
        case kind::exited: return s + (status ? status->describe() : "exited");
        case kind::readable: return s + "readable";
        case kind::writable: return s + "writable";
        case kind::hung_up: return s + "hung up";
        case kind::message: return s + "message " + msg.describe().substr(5);  // "data (...)"
        case kind::goodbye: return s + "goodbye";
        case kind::vanished: return s + msg.describe();
        case kind::failed: return s + "failed: " + error.message();
    }
    return s + "unknown";
}

// ---- poller

poller::poller() : core_(std::make_unique<detail::poller_core>()) {
    std::error_code ec;
    core_->r = detail::reactor_create(ec);
    if (ec) throw_error(ec, "poller: create");
}

poller::poller(poller&&) noexcept = default;

poller& poller::operator=(poller&& other) noexcept {
    if (this != &other) {
        poller old(std::move(*this));  // forgets our sources (and unlinks their channels)
        core_ = std::move(other.core_);
    }
    return *this;
}

poller::~poller() {
    // Registered channels point at the core: unlink them before it goes.
    if (!core_) return;
    for (std::size_t i = 0; i < core_->slots.size(); ++i) core_->remove_slot(i);
}

void poller::add(child& c, std::uint64_t token) {
    if (!c || c.status())
        throw_error(errc::invalid_argument, "poller::add: child " + std::to_string(c.pid()) + " is empty or already reaped");
    auto& core = *core_;
    // One child source per child: its exit is reported once, to one token (a channel joined
    // with the child is not a child source and may sit beside it).
    for (auto k : core.sources_of(c))
        if (core.slots[k].t == detail::source_slot::type::child)
            throw_error(errc::invalid_argument, "poller::add: child " + std::to_string(c.pid()) +
                                                    " is registered already, under token " + std::to_string(core.slots[k].token));
    auto& s = core.add_source(token, detail::source_slot::type::child);
    auto i = core.by_token[token];
    s.c = &c;
    s.h = c.process_handle().get();
    core.child_slots.emplace(&c, i);
    if (!is_valid_native(s.h)) {
        s.polled = true;  // no pidfd: checked with WNOHANG every fallback_period
        core.fallback.push_back(i);
        return;
    }
    if (auto ec = detail::reactor_watch(*core.r, detail::make_key(i, s.gen, 0), s.h, detail::watch_process, false)) {
        core.slots[i].h = invalid_native_handle();
        core.remove_slot(i);
        throw_error(ec, "poller::add: watch child " + std::to_string(c.pid()));
    }
}

void poller::add(borrowed_handle pipe_end, interest what, std::uint64_t token) {
    if (!pipe_end) throw_error(errc::invalid_argument, "poller::add: no handle");
    auto& core = *core_;
    auto& s = core.add_source(token, detail::source_slot::type::pipe);
    auto i = core.by_token[token];
    s.h = pipe_end.get();
    s.what = static_cast<unsigned>(what);
    if (auto ec = detail::reactor_watch(*core.r, detail::make_key(i, s.gen, 0), s.h, s.what, false)) {
        core.slots[i].h = invalid_native_handle();
        core.remove_slot(i);
        if (ec == errc::invalid_argument)
            throw_error(ec, "poller::add: " + to_handle_string(pipe_end) + " is not an open pipe end that can be watched");
        throw_error(ec, "poller::add: watch " + to_handle_string(pipe_end));
    }
}

void poller::add(channel& ch, std::uint64_t token) {
    if (!ch.is_open()) throw_error(errc::closed, "poller::add: channel");
    auto* src = detail::source_of(ch);
    if (src->observed()) throw_error(errc::invalid_argument, "poller::add: channel is registered already");
    auto& core = *core_;
    auto& s = core.add_source(token, detail::source_slot::type::channel);
    auto i = core.by_token[token];
    s.ch = src;
    if (auto ec = core.watch_channel(i)) {
        core.remove_slot(i);
        throw_error(ec, "poller::add: watch " + src->where());
    }
    src->observe(&core, i);
    // Frames already buffered (a receive() read more than it returned) are reported at once;
    // so is a peer whose goodbye or end was already received.
    if (src->has_work()) core.mark_ready(i);
}

void poller::add(channel& ch, child& peer, std::uint64_t token) {
    add(ch, token);
    core_->slots[core_->by_token[token]].c = &peer;
}

void poller::modify(std::uint64_t token, interest what) {
    auto& core = *core_;
    auto it = core.by_token.find(token);
    if (it == core.by_token.end() || core.slots[it->second].t != detail::source_slot::type::pipe)
        throw_error(errc::invalid_argument, "poller::modify: token " + std::to_string(token) + " is no pipe end");
    auto& s = core.slots[it->second];
    if (auto ec = detail::reactor_watch(*core.r, detail::make_key(it->second, s.gen, 0), s.h,
                                        static_cast<unsigned>(what), true))
        throw_error(ec, "poller::modify");
    s.what = static_cast<unsigned>(what);
}

bool poller::remove(std::uint64_t token) noexcept {
    auto it = core_->by_token.find(token);
    if (it == core_->by_token.end()) return false;
    core_->remove_slot(it->second);
    return true;
}

bool poller::contains(std::uint64_t token) const noexcept { return core_->by_token.count(token) != 0; }

std::size_t poller::size() const noexcept { return core_->by_token.size(); }

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
