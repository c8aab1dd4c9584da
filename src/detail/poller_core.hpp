// Internal, portable: the poller's state, shared by the files that do its jobs —
// registration (poller.cpp), the slot table and its reactor watches (poller_slots.cpp), one
// wait turning readiness into events (poller_wait.cpp), and children's exits joined with
// vanished channels (poller_exits.cpp). One struct with one member per job keeps the hot path
// (wait -> service -> a channel's pump) free of indirection; the files only divide the code.
#pragma once

#include <tether/poller.hpp>

#include "detail/backend.hpp"
#include "detail/poll_source.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tether::detail {

inline constexpr std::size_t no_slot = std::numeric_limits<std::size_t>::max();

// A watch key: generation (32 bits) | slot (31 bits) | sub-watch (1 bit: 0 main, 1 write).
inline std::uint64_t make_key(std::size_t slot, std::uint32_t gen, unsigned sub) {
    return (static_cast<std::uint64_t>(gen) << 32) | (static_cast<std::uint64_t>(slot) << 1) | sub;
}

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
    bool polled{false};         // a child without process handle: checked every fallback_period (poller_exits.cpp)
    // Channels.
    channel_source* ch{nullptr};
    source_watch watched{};         // what the reactor watches now
    bool in_ready{false};           // queued in poller_core::ready
    std::uint64_t pumped_in{0};     // the wait() that `pumped` counts for
    std::size_t pumped{0};          // messages delivered in that wait (at most max_messages_per_wait)
    bool awaiting_peer{false};      // vanished; waiting for the peer's exit
    bool peer_via_child{false};     // ... which a child source of the same child watches
    deadline peer_deadline{deadline::never()};
    std::size_t peer_watch{no_slot};
    std::size_t waiter{no_slot};  // peer_watch: the channel (or tied pipe) slot that waits
    // Pipes tied to the child `c` that writes into them (or reads them): the grace after its exit
    // and when it ends (never until the exit is seen). `peer_watch` watches the exit.
    bool tied{false};
    milliseconds tie_grace{0};
    deadline tie_end{deadline::never()};
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
    std::vector<std::size_t> fallback;  // polled children, channels awaiting a peer, tied pipes
    std::vector<reactor_ready> scratch;
    std::uint64_t wait_number{0};  // counts wait() calls: the message cap is per wait

    // The slot table and its watches (poller_slots.cpp).
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
    // Readiness into events (poller_wait.cpp).
    void emit(source_slot& s, poll_event::kind k, event_list& out);
    void service(std::size_t i, unsigned events, event_list& out);
    void service_child(std::size_t i, event_list& out);
    void service_pipe(std::size_t i, unsigned events, event_list& out);
    void service_channel(std::size_t i, event_list& out);
    void channel_ended(std::size_t i, poll_event ev, event_list& out);
    void channel_failed(std::size_t i, std::error_code ec, event_list& out);
    // Exits, and vanished channels joined with them (poller_exits.cpp).
    std::vector<std::size_t> sources_of(const child& c) const;
    void emit_exit(std::size_t i, std::optional<exit_status> st, std::error_code ec, event_list& out);
    std::optional<exit_status> reap(child& c, bool& ended, event_list& out, bool known_ended = false);
    void start_peer_wait(std::size_t i, message m, event_list& out);
    void watch_exit(std::size_t i);
    void end_vanished(std::size_t i, std::optional<exit_status> st, event_list& out);
    void finish_peer_wait(std::size_t i, bool timed_out, event_list& out);
    void check_fallbacks(event_list& out);
    // Pipes tied to a child (poller_ties.cpp).
    void tie(std::size_t i, child& producer, milliseconds grace);
    void tie_exit_fired(std::size_t i, event_list& out);
    void start_ties(const child& c);
    void check_tie(std::size_t i, event_list& out);
    void untie(std::size_t i) noexcept;
    deadline next_fallback(deadline d) const;
};

}  // namespace tether::detail
