// Internal, Windows only: one end of a channel (detail/backend.hpp, section 4) and what its three
// files share: the transport (channel.cpp: the pipe, overlapped reads and writes, waits), the
// hello and its check (channel_hello.cpp, with the checks in channel_trust.hpp) and the handles
// that travel with frames (channel_handles.cpp).
#pragma once

#include "detail/backend.hpp"

#include <tether/handle.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include <windows.h>

namespace tether::detail {

/// One overlapped operation the endpoint keeps in flight, from its own buffer. The event's
/// handle goes into OVERLAPPED::hEvent with the low bit set, so that no completion packet ever
/// reaches a completion port the handle may be bound to (GetQueuedCompletionStatus docs).
struct pending_io {
    OVERLAPPED ov{};
    unique_handle event{::CreateEventW(nullptr, TRUE, TRUE, nullptr)};  // manual reset, not inheritable
    bool pending{false};
    std::vector<std::byte> buf;
    void start() noexcept {
        ov = OVERLAPPED{};
        ov.hEvent = reinterpret_cast<HANDLE>(reinterpret_cast<std::uintptr_t>(event.get()) | 1);  // NOLINT
    }
};

inline HANDLE event_of(const pending_io& io) noexcept { return io.event.get(); }

struct channel_endpoint {
    channel_endpoint() = default;
    channel_endpoint(const channel_endpoint&) = delete;
    channel_endpoint& operator=(const channel_endpoint&) = delete;
    // Cancels and waits for the reads and writes in flight. A write cancelled here never
    // reached the peer whole: its pushed copies are taken back.
    ~channel_endpoint();

    unique_handle pipe;
    bool server{false};
    // Server only: the hello state and the client process. `unverified`: the claimed handle
    // could not be duplicated yet out of a process that has not ended (one that is exiting
    // loses its handles before it is signalled); settled at the first use. `refused`: the claim
    // did not hold (peer_error says why); nothing the peer names is ever duplicated then, and
    // every frame with handles is refused, but data still flows: a client that closed its end
    // before we read its hello (its value may name another object by now) looks the same as a
    // liar, and its bytes are no threat.
    enum class hello_state { unknown, unverified, received, refused, absent } hello{hello_state::unknown};
    unique_handle peer_process;
    std::uint64_t claimed_value{0};
    std::error_code peer_error;
    std::vector<std::byte> hello_part;
    // Reading: one overlapped read in flight into rd.buf; [rd_begin, rd_end) is what arrived
    // and was not handed out yet.
    pending_io rd;
    std::size_t rd_begin{0}, rd_end{0};
    bool eof{false};
    DWORD read_error{0};
    // Writing: the bytes channel_write_some took, in flight from wr.buf, and the handles that
    // travel with them (released or closed once the write completed).
    pending_io wr;
    std::vector<unique_handle> wr_handles;
    DWORD write_error{0};
    // Server only: each handle of ours pushed into the peer whose copy there is not the peer's
    // yet, from export until its frame was written, or taken back. `undelivered`: the write
    // that carried it failed (our copy is closed, `local` is null); channel_unexport or the
    // destructor takes the peer's copy back.
    struct pushed_copy {
        HANDLE local;
        std::uint64_t remote;
        bool undelivered;
    };
    std::vector<pushed_copy> pushed;
};

inline bool process_ended(HANDLE process) { return ::WaitForSingleObject(process, 0) == WAIT_OBJECT_0; }

// channel.cpp

/// Moves the read on without waiting: collects a completed read, or starts the next one.
/// Afterwards data is buffered, the end or an error is known, or a read is pending.
void pump_read(channel_endpoint& e);
/// Reads on (without waiting) and, on the server, looks for the hello first.
void advance_read(channel_endpoint& e);

// channel_hello.cpp

/// Client: writes the hello (our process id and our handle of the pipe), so that the server
/// can check the claim and then move handles to and from us.
void send_hello(channel_endpoint& e);
/// Server: strips the client's hello from the front of the stream, if it starts with one, and
/// checks its claim. Bytes that turn out not to be a hello stay in front.
void take_hello(channel_endpoint& e);
/// Server: settles a claim that could not be checked yet. `at_use`: a handle is about to move,
/// so a claim that still cannot be checked is refused.
void settle_peer(channel_endpoint& e, bool at_use);
/// Server: the client's hello, waited for if it has not come yet; clear if handles can move
/// to and from the peer, else why not (errc::peer_gone, errc::not_supported for a raw peer,
/// the refusal).
std::error_code need_peer(channel_endpoint& e);

// channel_handles.cpp

/// The handles that went with a write that completed (`ok`) or failed.
void write_done(channel_endpoint& e, bool ok);
/// Server: takes back `values` (copies pushed for frames never written whole) and every copy
/// whose write failed, each once, and forgets them.
void take_back_unsent(channel_endpoint& e, std::span<const std::uint64_t> values) noexcept;

}  // namespace tether::detail
