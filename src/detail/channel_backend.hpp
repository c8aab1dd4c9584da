// Internal: what a backend (src/unix/channel.cpp, src/windows/channel.cpp) provides to the
// portable channel (src/channel.cpp, src/channel_source.cpp). Same names in both
// backends; the portable side (with the I/O-free engine, channel_engine.hpp) owns the framing,
// buffering, goodbye/vanished logic and validation, the backend only moves bytes and handles
// between two processes. Every I/O hook is NON-BLOCKING; channel_wait() is the only call that
// waits, so the blocking and timed channel calls are loops over the same pieces a poller uses.
//
// How handles travel. The portable layer puts a handle table in each frame (see frame.hpp):
// one 64-bit wire value per handle. Sending: channel_export_handles() turns the caller's
// handles into wire values plus a list of handles to send "out of band" with the bytes;
// channel_write_some() sends bytes and out-of-band handles together. Receiving: channel_read_some()
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
//          import wraps the values pushed to it. See src/windows/channel_handles.cpp.
#pragma once

#include <tether/handle.hpp>

#include "detail/deadline.hpp"
#include "detail/poll_source.hpp"

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


/// A connected pair. `ours` becomes an endpoint; `theirs` is the raw handle to pass to a child.
/// Neither is inheritable. On failure `what` names the step that failed.
std::error_code channel_make_pair(endpoint_ptr& ours, unique_handle& theirs, std::string& what);

/// Makes an endpoint of a handle received from a parent (or given by the user). Validates it
/// first (Linux: an AF_UNIX stream socket); on failure `what` says why and `h` is closed.
endpoint_ptr channel_open(unique_handle&& h, std::error_code& ec, std::string& what);

/// The OS object behind the endpoint (for polling, diagnostics).
borrowed_handle channel_native(const channel_endpoint& e) noexcept;

/// Prepares `handles` (consumed) for one frame when it is queued: appends one wire value per
/// handle to `wire` (a placeholder where channel_push_handles fills it in) and the handles that
/// must travel with the bytes to `out_of_band`. Fails if the peer cannot receive handles.
std::error_code channel_export_handles(channel_endpoint& e, std::vector<unique_handle>& handles,
                                       std::vector<std::uint64_t>& wire, std::vector<unique_handle>& out_of_band);

/// Gives exported handles to the peer right before the first write that carries their frame,
/// never earlier, so a frame that is never written never put a handle into the peer (a peer
/// can copy a handle inside its own table faster than we could take it back). Windows server:
/// duplicates each into the peer and sets its wire value (on failure, what it pushed is taken
/// back and `wire` is left as it was). Elsewhere nothing to do.
std::error_code channel_push_handles(channel_endpoint& e, std::span<const unique_handle> out_of_band,
                                     std::span<std::uint64_t> wire);

/// Handles exported for frames that will never be written (the channel is closing, or a
/// write failed): Windows takes the copies it pushed into the peer back out of it (the peer
/// never saw their values, so nobody else owns them); POSIX just closes ours. `pushed` are the
/// wire values channel_push_handles gave (0: none). Never throws.
void channel_unexport(channel_endpoint& e, std::span<const std::uint64_t> pushed,
                      std::vector<unique_handle>& out_of_band) noexcept;

/// Most out-of-band handles one channel_write_some may carry (Linux: SCM_MAX_FD = 253).
std::size_t channel_max_out_of_band() noexcept;

/// The most parts one channel_write_some takes (the portable layer uses up to 3).
inline constexpr std::size_t max_write_parts = 4;

/// Writes what the OS takes NOW of `parts` (at most max_write_parts, in order), never
/// blocking. The `out_of_band` handles go with the first byte written and are consumed once
/// any byte is (closed: the kernel or the peer holds its own reference in flight; a Windows
/// client releases them for the server to pull).
/// With no parts it only collects a finished write (Windows), so a caller can wait for the end
/// of the write in flight before it gives the peer handles.
/// @returns the bytes taken; 0 with errc::would_block if none could be; errc::peer_gone if the
///          peer is gone, else the OS error.
std::size_t channel_write_some(channel_endpoint& e, std::span<const std::span<const std::byte>> parts,
                               std::vector<unique_handle>& out_of_band, std::error_code& ec);

/// True while bytes that channel_write_some took are still on their way (Windows: an
/// overlapped write from the endpoint's own buffer is pending). POSIX: always false.
bool channel_writing(const channel_endpoint& e) noexcept;

/// Reads what is there NOW into `buf`, never blocking: errc::would_block if nothing; 0 with
/// `ec` clear at end-of-file (a peer that vanished with unread data counts as end-of-file).
/// Handles that arrive are wrapped at once and appended to `arrived`. A truncated control
/// message (more handles than fit) closes those that did arrive and is errc::protocol_error.
std::size_t channel_read_some(channel_endpoint& e, std::span<std::byte> buf, std::deque<unique_handle>& arrived,
                              std::error_code& ec);

/// Blocks until a read (`want_read`) or a write (`want_write`) can make progress, or
/// `deadline` passes (errc::timed_out). Ready includes end-of-file and errors: the next
/// read_some / write_some says which.
std::error_code channel_wait(channel_endpoint& e, bool want_read, bool want_write, const deadline& d);

/// Prepares the endpoint to be waited on by a poller (Windows: starts the overlapped read if
/// none is pending) and says what to watch (flags from detail/poller_backend.hpp). POSIX: the
/// socket, for watch_read (and watch_write while output is queued). Windows: the event of the
/// endpoint's pending overlapped read (watch_object) and, while a write is in flight, the event
/// of that write.
source_watch channel_arm(channel_endpoint& e, bool want_write) noexcept;

/// Turns one frame's wire values into owned handles, appended to `out`. Linux: takes
/// wire.size() handles from the front of `arrived`; fewer than that is errc::protocol_error.
std::error_code channel_import_handles(channel_endpoint& e, std::span<const std::uint64_t> wire,
                                       std::deque<unique_handle>& arrived, std::vector<unique_handle>& out);

}  // namespace tether::detail
