// Windows backend of the channel: the handles that travel with frames (export, push,
// unexport, import) and what becomes of them once their write completed or failed.
//
// Who duplicates. Only the server side (the process that made the channel, normally the
// parent, which can open its child with PROCESS_DUP_HANDLE) ever calls DuplicateHandle across
// processes, in both directions, as Chromium's Mojo does for its privileged side:
//   server -> client: PUSH. The server duplicates each handle into the client process right
//     before the write that carries its frame (channel_push_handles, once the write before it
//     has completed; not when the frame is queued: a copy cannot be revoked, since the client
//     can copy it inside its own table first) and sends the client's new value; its own copy is
//     closed once the frame is written. If the client process dies first, Windows frees the
//     copy with its handle table; a client that lives on but never reads the frame owns that
//     handle (it is in its table).
//   client -> server: PULL. The client sends its own handle values and keeps those handles
//     open (they are released, not closed, once the frame is written). The server, on
//     receiving the frame, calls DuplicateHandle(client, value, self, DUPLICATE_CLOSE_SOURCE):
//     the client's copy is closed by the very call that gives the server its copy, so the
//     handle is never in both processes' ownership and never in neither.
// Why: the server never wraps a raw number that came over the pipe (a broken or hostile peer
// could otherwise name one of the server's own handles and make it owned twice); every handle
// the server receives is a fresh DuplicateHandle result, non-inheritable. The client wraps
// the values the server pushed (the process that made its channel is trusted by it anyway)
// after checking each is an open handle. The cost: a client must stay alive until the server
// has received a frame with its handles (a handle cannot be pulled out of a dead process: the
// server's receive() then fails with errc::peer_gone); and if the server process dies, or drops
// its end, without reading such a frame, the client's copy stays in the client until it exits.
#include "windows/channel_endpoint.hpp"

#include <tether/error.hpp>

#include "windows/channel_trust.hpp"
#include "windows/win.hpp"

#include <algorithm>

namespace tether::detail {

namespace {

// Closes copies we pushed into the peer for a frame that will never be sent (the peer has not
// seen their values, so nobody else can own them). Pulled back and closed here, since wine
// refuses DuplicateHandle with a NULL target process.
void take_back(channel_endpoint& e, std::span<const std::uint64_t> pushed) noexcept {
    for (auto v : pushed) {
        if (v == 0) continue;  // exported, never pushed
        HANDLE back = nullptr;
        if (::DuplicateHandle(e.peer_process.get(), reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v)),  // NOLINT
                              ::GetCurrentProcess(), &back, 0, FALSE, DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE))
            ::CloseHandle(back);
    }
}

}  // namespace

void take_back_unsent(channel_endpoint& e, std::span<const std::uint64_t> values) noexcept {
    auto named = [&](std::uint64_t v) { return std::find(values.begin(), values.end(), v) != values.end(); };
    if (e.peer_process) {
        take_back(e, values);
        for (const auto& p : e.pushed)
            if (p.undelivered && !named(p.remote)) take_back(e, std::span(&p.remote, 1));
    }
    std::erase_if(e.pushed, [&](const auto& p) { return p.undelivered || named(p.remote); });
}

// The handles that went with a completed write: a client releases them (the server pulls them
// with DUPLICATE_CLOSE_SOURCE, which closes ours), a server closes its copies (the peer has its
// own). After a failed write they are closed either way: undeliverable.
//
// A server's write that FAILED carried frames the peer cannot have received whole, so their
// pushed copies are taken back out of the peer (a peer that closed its end and lives on would
// otherwise keep them). Why "cannot": each write is at most write_buffer (channel.cpp) = the pipe's
// quota, and a pipe write completes as soon as its remaining bytes fit the buffer; the peer reads in
// order, so once it reads any byte of this write all earlier bytes are gone, the rest fits, and
// the write completes. A write that fails was never read into.
// The failure itself is reported later (write_error); the next channel_unexport, which every
// failed write leads to, or the destructor takes the copies back.
void write_done(channel_endpoint& e, bool ok) {
    if (ok && !e.server)
        for (auto& h : e.wr_handles) (void)h.release();
    for (auto& h : e.wr_handles) {
        auto it = std::find_if(e.pushed.begin(), e.pushed.end(), [&](const auto& p) { return p.local == h.get(); });
        if (it == e.pushed.end()) continue;
        if (ok) {
            e.pushed.erase(it);  // the frame is in the pipe: the copy is the peer's now
        } else {
            it->undelivered = true;
            it->local = nullptr;  // closed below; its value may be reused
        }
    }
    e.wr_handles.clear();
}

std::error_code channel_export_handles(channel_endpoint& e, std::vector<unique_handle>& handles,
                                       std::vector<std::uint64_t>& wire, std::vector<unique_handle>& out_of_band) {
    std::vector<unique_handle> owned = std::move(handles);  // consumed whatever happens
    handles.clear();
    if (owned.empty()) return {};  // plain data never waits for the hello
    if (!e.server) {
        // Pull: our values travel; the handles stay open until the server takes them.
        for (auto& h : owned) {
            wire.push_back(reinterpret_cast<std::uintptr_t>(h.get()));  // NOLINT: a handle value
            out_of_band.push_back(std::move(h));
        }
        return {};
    }
    // Push: checked now (the hello), duplicated into the peer only by channel_push_handles,
    // right before the write that carries the frame.
    if (auto ec = need_peer(e)) return ec;
    DWORD flags = 0;
    for (auto& h : owned)  // what cannot be pushed later is refused now, the frame unqueued
        if (!::GetHandleInformation(h.get(), &flags)) return last_os_error();
    for (auto& h : owned) {
        wire.push_back(0);
        out_of_band.push_back(std::move(h));  // closed once the frame is written
    }
    return {};
}

std::error_code channel_push_handles(channel_endpoint& e, std::span<const unique_handle> out_of_band,
                                     std::span<std::uint64_t> wire) {
    if (!e.server || out_of_band.empty()) return {};
    if (!e.peer_process) return errc::peer_gone;
    for (std::size_t i = 0; i < out_of_band.size(); ++i) {
        HANDLE remote = nullptr;
        if (!::DuplicateHandle(::GetCurrentProcess(), out_of_band[i].get(), e.peer_process.get(), &remote, 0, FALSE,
                               DUPLICATE_SAME_ACCESS)) {
            auto ec = process_ended(e.peer_process.get()) ? make_error_code(errc::peer_gone) : last_os_error();
            take_back_unsent(e, wire.first(i));
            std::fill(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(i), 0);
            return ec;
        }
        wire[i] = reinterpret_cast<std::uintptr_t>(remote);  // NOLINT: a handle value
        e.pushed.push_back({out_of_band[i].get(), wire[i], false});
    }
    return {};
}

void channel_unexport(channel_endpoint& e, std::span<const std::uint64_t> pushed,
                      std::vector<unique_handle>& out_of_band) noexcept {
    // Server: the copies pushed into the peer for frames never written leave it again. Client:
    // its handles were never released, so closing ours is all there is.
    if (e.server) take_back_unsent(e, pushed);
    out_of_band.clear();
}

std::size_t channel_max_out_of_band() noexcept { return 256; }

std::error_code channel_import_handles(channel_endpoint& e, std::span<const std::uint64_t> wire,
                                       std::deque<unique_handle>&, std::vector<unique_handle>& out) {
    if (repeats_a_value(wire)) return errc::protocol_error;
    for (auto v : wire) {
        auto value = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v));  // NOLINT: a handle value
        if (!plausible_handle_value(v)) return errc::protocol_error;
        if (!e.server) {
            // Pushed into us by the server: check it is open, then own it.
            DWORD flags = 0;
            if (!::GetHandleInformation(value, &flags)) return errc::protocol_error;
            out.emplace_back(value);
            continue;
        }
        settle_peer(e, true);
        if (e.hello == channel_endpoint::hello_state::refused) return e.peer_error;
        if (e.hello != channel_endpoint::hello_state::received) return errc::protocol_error;
        if (!e.peer_process) return errc::peer_gone;
        HANDLE mine = nullptr;
        if (!::DuplicateHandle(e.peer_process.get(), value, ::GetCurrentProcess(), &mine, 0, FALSE,
                               DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE))
            return process_ended(e.peer_process.get()) ? errc::peer_gone : errc::protocol_error;
        unique_handle pulled(mine);
        // Never a handle to ourselves, whatever a peer (or wine, for a value it has no handle
        // under) makes DuplicateHandle give.
        if (names_our_process_or_thread(pulled.get())) return errc::protocol_error;
        out.push_back(std::move(pulled));
    }
    return {};
}

}  // namespace tether::detail
