// Portable: tether::poller — registering sources (children, pipe ends, channels) under
// tokens, and poll_event's words. The state and its jobs are in detail/poller_core.hpp: the slot
// table (poller_slots.cpp), one wait (poller_wait.cpp), exits and vanished channels
// (poller_exits.cpp), over the backend's reactor (detail/backend.hpp, section 5: epoll on
// Linux, a completion port on Windows). A channel is seen only as a detail::channel_source
// (detail/poll_source.hpp): watched, pumped, observed.
#include <tether/error.hpp>
#include <tether/poller.hpp>

#include "detail/poller_core.hpp"

#include <string>

namespace tether {

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
        case kind::held_open: return s + "held open: " + held_by;
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

void poller::add(borrowed_handle pipe_end, interest what, std::uint64_t token, child& producer, milliseconds grace) {
    if (!producer || grace.count() < 0)
        throw_error(errc::invalid_argument, "poller::add: token " + std::to_string(token) + ": " +
                                                (!producer ? "the producer is an empty child"
                                                           : "grace " + std::to_string(grace.count()) + " ms is negative"));
    add(pipe_end, what, token);
    core_->tie(core_->by_token[token], producer, grace);
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

}  // namespace tether
