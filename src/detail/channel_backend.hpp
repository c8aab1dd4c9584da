// Internal: what a backend (src/posix/channel.cpp, src/windows/channel.cpp) provides to the
// portable channel (src/channel.cpp). Same names in both backends; the portable side owns the
// framing, buffering, goodbye/vanished logic and validation, the backend only moves bytes and
// handles between two processes.
//
// How handles travel. The portable layer puts a handle table in each frame (see frame.hpp):
// one 64-bit wire value per handle. Sending: channel_export_handles() turns the caller's
// handles into wire values plus a list of handles to send "out of band" with the bytes;
// channel_write() sends bytes and out-of-band handles together. Receiving: channel_read()
// delivers bytes and appends any out-of-band handles to a queue (owned at once);
// channel_import_handles() turns one frame's wire values (and queued handles) into owned
// handles for the message.
//
//   Linux: out of band = SCM_RIGHTS on an AF_UNIX stream socket; wire values are 0;
//          import pops handle_count descriptors from the queue.
//   Windows: one duplex named pipe; only the end that made the channel (the pipe's server)
//          duplicates across processes. Its export pushes each handle into the peer and sends
//          the peer's value (the local copy waits in the out-of-band list until the frame is
//          written); its import pulls the peer's values with DUPLICATE_CLOSE_SOURCE. The
//          client's export sends its own values (released, not closed, once written) and its
//          import wraps the values pushed to it. See src/windows/channel.cpp.
#pragma once

#include <tether/handle.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace tether::detail {

/// One end of a channel as the backend sees it: the OS object plus anything else the backend
/// needs (on Windows perhaps the peer's process handle). Defined by the backend.
struct channel_endpoint;
struct channel_endpoint_deleter {
    void operator()(channel_endpoint* e) const noexcept;
};
using endpoint_ptr = std::unique_ptr<channel_endpoint, channel_endpoint_deleter>;

using deadline_t = std::optional<std::chrono::steady_clock::time_point>;

/// A connected pair. `ours` becomes an endpoint; `theirs` is the raw handle to pass to a child.
/// Neither is inheritable.
std::error_code channel_make_pair(endpoint_ptr& ours, unique_handle& theirs);

/// Makes an endpoint of a handle received from a parent (or given by the user). Validates it
/// first (Linux: an AF_UNIX stream socket); on failure `what` says why and `h` is closed.
endpoint_ptr channel_open(unique_handle&& h, std::error_code& ec, std::string& what);

/// The OS object behind the endpoint (for polling, diagnostics).
borrowed_handle channel_native(const channel_endpoint& e) noexcept;

/// Prepares `handles` (consumed) for one frame: appends one wire value per handle to `wire`
/// and the handles that must travel with the bytes to `out_of_band`.
std::error_code channel_export_handles(channel_endpoint& e, std::vector<unique_handle>& handles,
                                       std::vector<std::uint64_t>& wire, std::vector<unique_handle>& out_of_band);

/// Most out-of-band handles one channel_write may carry (Linux: SCM_MAX_FD = 253).
std::size_t channel_max_out_of_band() noexcept;

/// The most parts one channel_write takes (the portable layer uses up to 3).
inline constexpr std::size_t max_write_parts = 4;

/// Writes every byte of `parts` (at most max_write_parts), in order, blocking. The `out_of_band` handles go with the first
/// byte; they are closed here once written — the kernel (or the peer) holds its own reference
/// in flight — and also on failure, since a peer that is gone can never receive them.
/// @returns errc::peer_gone if the peer is gone, else the OS error; clear on success.
std::error_code channel_write(channel_endpoint& e, std::span<const std::span<const std::byte>> parts,
                              std::vector<unique_handle>& out_of_band);

/// Reads at least one byte into `buf` (blocking, or until `deadline`: errc::timed_out).
/// Returns 0 at end-of-file (a peer that vanished with unread data counts as end-of-file).
/// Handles that arrive are wrapped at once and appended to `arrived`. A truncated control
/// message (more handles than fit) closes those that did arrive and is errc::protocol_error.
std::size_t channel_read(channel_endpoint& e, std::span<std::byte> buf, std::deque<unique_handle>& arrived,
                         deadline_t deadline, std::error_code& ec);

/// Turns one frame's wire values into owned handles, appended to `out`. Linux: takes
/// wire.size() handles from the front of `arrived`; fewer than that is errc::protocol_error.
std::error_code channel_import_handles(channel_endpoint& e, std::span<const std::uint64_t> wire,
                                       std::deque<unique_handle>& arrived, std::vector<unique_handle>& out);

}  // namespace tether::detail
