// Portable: pipe ends tied to the child they were made for (poller::add(pipe_end, what, token,
// child&, grace)). The child's exit starts the grace — seen through our own watch of its
// process handle, through a reap() for any other source, or because the user reaped it — and
// when the grace is over with the pipe's other end still open somewhere, held_open names the
// holders. A hung_up first, or removing the end, unties it.
#include "detail/held_open.hpp"
#include "detail/poller_core.hpp"

#include <algorithm>
#include <string>

namespace tether::detail {

void poller_core::tie(std::size_t i, child& producer, milliseconds grace) {
    auto& s = slots[i];
    s.c = &producer;
    s.tied = true;
    s.tie_grace = grace;
    fallback.push_back(i);
    if (producer.status())
        s.tie_end = deadline::after(grace);  // reaped already: the grace starts now
    else
        watch_exit(i);  // none: polled with the fallbacks
}

// Our watch of the producer's process handle fired: reap it, which reports it to everyone
// registered for it and starts the grace of every pipe tied to it.
void poller_core::tie_exit_fired(std::size_t i, event_list& out) {
    auto& s = slots[i];
    if (s.c->status() || !*s.c) {
        start_ties(*s.c);
        return;
    }
    bool ended = false;
    (void)reap(*s.c, ended, out);
    // Fired but not reapable yet: the watch is one-shot, so poll from now on.
    auto& ts = slots[i];  // reap() may have grown `slots`
    if (ts.tied && ts.tie_end.is_never() && ts.peer_watch != no_slot) {
        remove_slot(ts.peer_watch);
        slots[i].peer_watch = no_slot;
    }
}

void poller_core::start_ties(const child& c) {
    auto pending = fallback;  // removing a watch slot edits `fallback`
    for (auto k : pending) {
        auto& s = slots[k];
        if (!s.live || !s.tied || s.c != &c || !s.tie_end.is_never()) continue;
        s.tie_end = deadline::after(s.tie_grace);
        if (s.peer_watch != no_slot) {
            auto w = s.peer_watch;
            s.peer_watch = no_slot;
            remove_slot(w);
        }
    }
}

// A tied pipe in the fallback pass: its producer reaped by the user (or polled, without a
// process handle), or its grace over.
void poller_core::check_tie(std::size_t i, event_list& out) {
    auto& s = slots[i];
    if (s.tie_end.is_never()) {
        if (s.c->status() || !*s.c)
            start_ties(*s.c);
        else if (s.peer_watch == no_slot)
            tie_exit_fired(i, out);
        return;
    }
    if (!s.tie_end.expired()) return;
    auto h = s.h;
    auto pid = s.c->pid();
    untie(i);
    if (!pipe_peer_open(h)) return;  // every copy is closed: hung_up reports it
    poll_event e;
    e.what = poll_event::kind::held_open;
    e.token = slots[i].token;
    e.held_by = describe_held_open(borrowed_handle(h), "the pipe",
                                   "child " + std::to_string(pid) + " (which exited)").verdict;
    out.push_back(std::move(e));
}

void poller_core::untie(std::size_t i) noexcept {
    auto& s = slots[i];
    s.tied = false;
    s.c = nullptr;
    std::erase(fallback, i);
    if (s.peer_watch != no_slot) {
        auto w = s.peer_watch;
        s.peer_watch = no_slot;
        remove_slot(w);
    }
}

}  // namespace tether::detail
