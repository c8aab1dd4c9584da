// Internal, portable: one channel end's state (src/channel_state.cpp), shared by the blocking
// calls (src/channel.cpp) and, as a detail::channel_source, the poller (src/channel_source.cpp).
// It joins the backend endpoint (the OS object) with the I/O-free engine; every step here is
// non-blocking except wait-based loops that take a deadline, so a message already buffered is
// visible to either driver.
#pragma once

#include <tether/channel.hpp>

#include "detail/backend.hpp"
#include "detail/channel_engine.hpp"
#include "detail/deadline.hpp"
#include "detail/poll_source.hpp"

#include <optional>
#include <string>
#include <system_error>

namespace tether {

namespace detail {
/// "channel (descriptor N)": how error messages name a channel end.
std::string channel_where(borrowed_handle h);
}  // namespace detail

struct channel::state final : detail::channel_source {
    state(detail::endpoint_ptr e, channel_options o);
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    ~state();

    detail::endpoint_ptr ep;
    channel_options opt;
    detail::channel_engine eng;
    std::optional<message::kind> ended;  // goodbye or vanished, once seen
    bool peer_gone{false};               // a write found the peer gone
    detail::frame scratch;               // a frame with handles or in parts, being decoded
    borrowed_handle native;              // ep's handle, for error messages without a backend call
    detail::source_observer* observer{nullptr};  // the poller this end is registered with
    std::size_t observer_id{0};                  // ... and its id for it

    std::string where() const override;  ///< "channel (descriptor N)", for error messages
    /// Called by the channel's own calls (never by the poller's pump) once they changed what is
    /// buffered or queued, so a registered poller re-arms and reports buffered frames.
    void changed() noexcept {
        if (observer != nullptr && ep) observer->source_changed(observer_id);
    }

    // As a poller's source (src/channel_source.cpp; see detail/poll_source.hpp).
    detail::source_watch arm() noexcept override;
    [[nodiscard]] bool has_work() const noexcept override;
    detail::pump_result pump(std::vector<poll_event>& out, std::uint64_t token, std::size_t max) override;
    void close() noexcept override { drop(); }
    void observe(detail::source_observer* o, std::size_t id) noexcept override {
        observer = o;
        observer_id = id;
    }
    [[nodiscard]] bool observed() const noexcept override { return observer != nullptr; }

    // The steps below never call the observer: the channel's public calls (channel.cpp) do,
    // once each, and the pump that also uses them reports in its result instead.

    // Output.
    std::error_code queue(detail::frame_kind kind, std::span<const std::byte> payload,
                          std::vector<unique_handle>& handles);
    /// Writes what the OS takes now; errc::peer_gone (the queue is dropped then) or an OS error.
    std::error_code write_now();
    /// Gives the handles of the next write to the peer (channel_push_handles), if not yet.
    std::error_code push_next();
    /// Writes the whole queue, waiting up to `d` (errc::timed_out: the rest stays queued).
    std::error_code flush_until(const detail::deadline& d);
    /// A frame too large to copy into the queue: written straight from the caller's buffer.
    std::error_code send_large(detail::frame_kind kind, std::span<const std::byte> payload,
                               std::vector<unique_handle>& handles);

    // Input.
    /// A message from what is buffered, without I/O; nullopt if none is complete (or on error).
    std::optional<message> next_buffered(std::error_code& ec);
    /// As next_buffered(), into `out` (reusing its payload's storage); false if none is complete
    /// (or on error), `out` then holding nothing that matters.
    bool next_buffered_into(message& out, std::error_code& ec);
    /// One non-blocking read into the engine. `eof` at end-of-file; errc::would_block if none.
    std::error_code read_now(bool& eof);
    /// End-of-file: goodbye was not seen, so the peer vanished (also mid-frame: it died while
    /// sending).
    message vanish();
    /// The next message, waiting up to `d`; nullopt with errc::timed_out if none came in time.
    /// Pending output is written while waiting, so a reply is never waited for while its
    /// request still sits in our queue, and the wait stays bounded by `d`.
    std::optional<message> receive(const detail::deadline& d, std::error_code& ec);
    /// As receive(), into `out`; false where receive() gives nullopt.
    bool receive_into(const detail::deadline& d, message& out, std::error_code& ec);

    /// Closes the endpoint and releases everything buffered; copies of handles exported for
    /// frames never written are taken back (Windows) or closed, and handles of frames that
    /// reached us but were never received are closed (release_unreceived).
    void drop() noexcept;
    /// Imports and closes the handles of the complete frames already buffered or readable now
    /// without waiting (bounded), which nobody will receive: on Windows the peer's copies would
    /// otherwise stay in a process that lives on (values pushed into a client's table; a
    /// client's own handles waiting for the server to pull them). Stops at the first error.
    void release_unreceived() noexcept;
};

}  // namespace tether
