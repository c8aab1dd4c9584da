// tether/poller.hpp — supervise many children from one thread: child exits, pipe ends and
// channels in one wait, on Linux (epoll over pidfds and descriptors) and Windows (an I/O
// completion port fed by thread-pool waits).
//
//     tether::poller loop;
//     loop.add(ctl, worker, 1);                 // a channel joined with its child
//     loop.add(build, 2);                       // a child's exit
//     loop.add(log_pipe, tether::interest::read, 3);
//     std::vector<tether::poll_event> events;
//     for (;;) {
//         loop.wait(events, 1s);
//         for (auto& e : events) {
//             switch (e.what) {
//                 case tether::poll_event::kind::message: handle(e.token, e.msg); break;
//                 case tether::poll_event::kind::vanished: restart(e.token, *e.status); break;
//                 ...
//             }
//         }
//     }
//
// What is reported. A channel's messages arrive IN the events (moved out of the channel, in
// order, at most 64 per channel per wait so one flooding peer cannot starve the others); a
// message already buffered in the channel — because a receive() read more than one frame —
// is reported by the next wait without any I/O. goodbye and vanished end a channel's events;
// with add(channel&, child&, token), vanished carries the child's exit status, joined when the
// child's exit arrives (the loop never blocks for it; a peer that dropped its end but keeps
// running is reported with peer_running after 5 s). A channel that fails (a malformed frame, an
// announced length over its maximum, an OS error) is closed, removed and reported as `failed`;
// the others go on. A child's exit is reported once, with the status (the child is reaped and
// removed). Pipe ends are level-triggered: `readable` while data or end-of-file is there,
// `writable` while there is room, `hung_up` once the other end is gone — read with try_read()
// and write with try_write(), or remove the end. A pipe end added with the child it was made
// for also reports `held_open` if a descendant of that child keeps it open after the child's
// exit, so a loop is never left waiting for a hung_up that will not come.
//
// Sending from a loop. channel::post() queues a message and writes what the OS takes at once;
// a registered channel's queue is written by wait() as the socket drains, so no call blocks
// the loop.
//
// Ownership. The poller borrows: a registered child, channel or pipe end must stay alive (and
// a child where it is — do not move it) until it is removed or reported ended. A channel may
// be moved (its state stays put) and may be destroyed while registered (it is removed then).
// remove() is safe at any time, also between handling two events of one batch: events already
// in the batch stay there (a message taken from a channel is not lost), nothing more is
// reported for the token after it.
//
// Platform notes. Linux: a child without a pidfd (kernel < 5.3, or under valgrind) is
// checked with waitid(WNOHANG) at least every 10 ms while the poller waits, so its exit is seen
// within 10 ms instead of at once. Windows: pipe ends must be overlapped (tether's own ends
// are); `writable` is reported when the pipe's write quota has room, and at most every 10 ms
// while it reports none (Windows pipes have no write readiness; wine 8 always reports none):
// try_write() then says whether a write fits.
//
// Threads: one poller is used from one thread at a time, as are the objects it watches.
#pragma once

#include <tether/channel.hpp>
#include <tether/handle.hpp>
#include <tether/spawn.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

namespace tether {

/// What to watch a pipe end for.
enum class interest : unsigned { read = 1, write = 2, read_write = 3 };

/// One thing a poller reports.
struct poll_event {
    /// What happened.
    enum class kind {
        exited,    ///< a child ended: `status`; it is reaped and no longer registered
        readable,  ///< a pipe end has data or end-of-file: try_read() does not block
        writable,  ///< a pipe end has room: try_write() writes something
        hung_up,   ///< a pipe end's other end is closed (reported with readable for a read end)
        message,   ///< a channel message: `msg` (data and handles)
        goodbye,   ///< the channel's peer said goodbye; the channel is no longer registered
        vanished,  ///< the peer ended without goodbye: `msg.peer_status` / `status` when joined
        failed,    ///< the channel failed (`error`): it is closed and no longer registered
        held_open,  ///< a tied pipe end's child exited, the grace passed, and the pipe is still
                    ///< held open by another process: `held_by`; the end stays registered
    };
    kind what{kind::message};           ///< what happened
    std::uint64_t token{0};             ///< the token the source was registered with
    message msg;                        ///< message, goodbye, vanished
    std::optional<exit_status> status;  ///< exited; vanished when joined with the child
    std::error_code error;              ///< failed
    std::string held_by;                ///< held_open: who holds the pipe's other end (holders())

    /// "token 3: message (5 bytes)", "token 1: vanished: killed by signal 9 (SIGKILL)",
    /// "token 2: exited with code 0", "token 4: failed: protocol error ...".
    [[nodiscard]] std::string describe() const;
};

namespace detail {
struct poller_core;
}

/// One loop over many children, pipe ends and channels (see the header comment).
class poller {
public:
    /// @throws std::system_error if the OS object (epoll / completion port) cannot be made.
    poller();
    poller(poller&&) noexcept;             ///< takes over every registration
    poller& operator=(poller&&) noexcept;  ///< forgets its own sources, takes over `other`'s
    poller(const poller&) = delete;
    poller& operator=(const poller&) = delete;
    /// Forgets every source; closes nothing it borrowed.
    ~poller();

    /// Reports `c`'s exit (kind::exited). `token` must not be in use.
    /// @throws std::system_error: errc::invalid_argument (an empty or already reaped child, a
    ///         token in use, a child registered already under another token: its exit is
    ///         reported once, to one token).
    void add(child& c, std::uint64_t token);
    /// Watches a pipe end (or any descriptor / overlapped handle) for `what`.
    /// @throws std::system_error: errc::invalid_argument, naming the handle (not open, not
    ///         pollable such as a regular file, a token in use; Windows: not an overlapped pipe
    ///         end), or the OS error.
    void add(borrowed_handle pipe_end, interest what, std::uint64_t token);
    /// As above, tied to `producer`, the child the pipe was made for: once `producer` has
    /// exited and `grace` has passed with the pipe's other end still open in another process (a
    /// descendant it handed the end to), kind::held_open is reported for `token`, once, naming
    /// those processes (tether/tied.hpp says why end-of-file never comes then). The end stays
    /// registered and its readiness is reported as before; hung_up before the grace is over
    /// unties it. `producer` need not be registered: the poller watches its exit and reaps it,
    /// as add(channel&, child&, token) does; a child source of it still reports `exited`.
    /// @throws std::system_error as the overload above; errc::invalid_argument for an empty
    ///         producer or a negative grace.
    void add(borrowed_handle pipe_end, interest what, std::uint64_t token, child& producer,
             milliseconds grace = default_exit_grace);
    /// Reports `ch`'s messages, goodbye, vanished or failure; writes its post() queue.
    void add(channel& ch, std::uint64_t token);
    /// As above, and vanished carries `peer`'s exit status. `peer` need not be registered
    /// itself; if it is (under its own token), both events are reported.
    void add(channel& ch, child& peer, std::uint64_t token);
    /// Changes what a pipe end is watched for.
    void modify(std::uint64_t token, interest what);
    /// Stops reporting `token`. @returns false if it was not registered.
    bool remove(std::uint64_t token) noexcept;
    /// True while `token` is registered.
    [[nodiscard]] bool contains(std::uint64_t token) const noexcept;
    /// Registered sources.
    [[nodiscard]] std::size_t size() const noexcept;

    /// Waits up to `timeout` (milliseconds::max(): no limit; 0: do not wait) until at least
    /// one event, then returns every event ready now in `out` (cleared first).
    /// @returns the number of events; 0 when the time ran out.
    /// @throws std::system_error for an OS failure of the poller itself.
    std::size_t wait(std::vector<poll_event>& out, milliseconds timeout = milliseconds::max());
    /// As above, reporting an OS failure in `ec` instead of throwing.
    std::size_t wait(std::vector<poll_event>& out, milliseconds timeout, std::error_code& ec);

private:
    std::unique_ptr<detail::poller_core> core_;
};

}  // namespace tether
