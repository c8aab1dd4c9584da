// Internal, Windows only: what the channel's server checks before it trusts what a peer names
// (src/windows/channel_trust.cpp). See src/windows/channel_hello.cpp for the protocol.
#pragma once

#include <cstdint>
#include <span>

#include <windows.h>

namespace tether::detail {

/// A value that may name a handle in another process: not 0, 32 bits (handle values are), a
/// multiple of 4 (the kernel ignores the low two bits, so V and V+1 name one handle: a peer
/// could name one handle twice) and not a pseudo-handle.
bool plausible_handle_value(std::uint64_t v) noexcept;

/// True if `values` names one handle twice: a handle can move once.
bool repeats_a_value(std::span<const std::uint64_t> values) noexcept;

/// The client end `h` is open in a tether channel of this process (channel_open), from before
/// its hello is written until the endpoint goes. Only such an end may claim our own process
/// id: another process that can open ours could put a copy of its client end into our table and
/// claim to be us.
void in_process_client_opened(HANDLE h);
void in_process_client_closed(HANDLE h) noexcept;
bool is_in_process_client(std::uint64_t value);

/// True if `h` is a client end of the very pipe whose server end is `server`: a pipe, not a
/// server end, with the same object name. The name is unique (128 random bits, one instance,
/// FILE_FLAG_FIRST_PIPE_INSTANCE, owner-only DACL), so the same name means the same instance,
/// and the instance has one client end (a second open fails with ERROR_PIPE_BUSY): `h` is that
/// end or a duplicate of it. CompareObjectHandles cannot be used: it needs a handle to the
/// client end, and a server that kept one would hold the pipe open (no end-of-file when the
/// child dies before its hello).
bool is_our_client_end(HANDLE h, HANDLE server);

/// True if `h` is a handle to our own process, or to a thread of it (or to a thread whose
/// process cannot be queried: it is not accepted unverified). A peer must never hand us a
/// handle to ourselves: under wine, a pull of a value named twice, or of a free slot, gave the
/// server a full-access handle to its own process.
bool names_our_process_or_thread(HANDLE h) noexcept;

}  // namespace tether::detail
