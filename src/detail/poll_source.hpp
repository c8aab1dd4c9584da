// Internal, portable: what a tether::poller (src/poller*.cpp) drives, as Asio's reactor sees
// operations and not sockets. The poller knows a channel only through channel_source: what to
// watch, a pump that moves messages into the caller's event list, and an observer the poller
// registers to hear about work that appears between two waits. The channel implements it
// (src/channel_source.cpp); the poller includes this header and never the channel's state.
//
// Who tells whom. A pump reports in its result what it did (messages delivered, the end seen,
// a failure) and never calls the observer: the poller is the caller and learns it there. The
// observer hears only about the channel's own calls (send, post, flush, receive, close), which
// the user makes between waits.
#pragma once

#include <tether/handle.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

namespace tether {
struct poll_event;
}

namespace tether::detail {

/// What a reactor watches for a source now (flags: watch_flags, detail/backend.hpp, section 5).
/// POSIX: one socket for both directions (`readable` with watch_read, and watch_write in
/// `write_how` while output waits). Windows: the events of the pending overlapped read and,
/// while one is in flight, write (watch_object each).
struct source_watch {
    native_handle readable{invalid_native_handle()};
    unsigned read_how{0};
    native_handle writable{invalid_native_handle()};  ///< invalid: nothing to wait for
    unsigned write_how{0};
};

/// Registered with a source by its poller, under the poller's own `id` for it.
class source_observer {
public:
    /// The source's own calls left work that needs no waiting (complete messages buffered, the
    /// end received) or changed what to watch (output queued or written): re-arm, and pump it
    /// in the next wait if has_work().
    virtual void source_changed(std::size_t id) noexcept = 0;
    /// The source is closing: forget it now, while its handles are still open.
    virtual void source_gone(std::size_t id) noexcept = 0;

protected:
    ~source_observer() = default;
};

/// How a pump ended.
enum class pump_end {
    idle,      ///< nothing more to deliver without waiting
    more,      ///< stopped at `max` with complete messages still buffered: pump again, no I/O
    goodbye,   ///< the peer said goodbye (now, or received by an earlier call)
    vanished,  ///< end-of-file without goodbye (now, or received by an earlier call)
    failed,    ///< `error`: nothing from the source can be trusted; close() it
};

/// What a pump did.
struct pump_result {
    pump_end end{pump_end::idle};
    std::size_t delivered{0};  ///< kind::message events appended
    std::error_code error;     ///< with pump_end::failed
};

/// A channel as a poller sees it.
class channel_source {
public:
    /// Prepares to be waited on (Windows: starts the overlapped read if none is pending) and
    /// says what to watch: always the input, and the output while some is queued or in flight.
    virtual source_watch arm() noexcept = 0;
    /// True if a pump would deliver without I/O: a complete message buffered, or the end
    /// already received.
    [[nodiscard]] virtual bool has_work() const noexcept = 0;
    /// Writes what the OS takes of the queued output, then appends up to `max` messages to
    /// `out` (kind::message, with `token`), reading while input is there. Never blocks and
    /// never calls the observer. A peer gone on write is no failure: its goodbye or
    /// end-of-file follows on the read side.
    virtual pump_result pump(std::vector<poll_event>& out, std::uint64_t token, std::size_t max) = 0;
    /// Closes the source and releases what it buffered (after pump_end::failed).
    virtual void close() noexcept = 0;
    /// Registers `o` (nullptr: nobody) to hear about changes made by the source's own calls.
    virtual void observe(source_observer* o, std::size_t id) noexcept = 0;
    /// True while an observer is registered.
    [[nodiscard]] virtual bool observed() const noexcept = 0;
    /// Names the source in error messages: "channel (descriptor 5)".
    [[nodiscard]] virtual std::string where() const = 0;

protected:
    ~channel_source() = default;
};

}  // namespace tether::detail
