// Windows backend of the channel: the hello, and the server's check of what it claims.
//
// How the server learns its peer. The pipe cannot tell: the client end was opened by the
// server's own process and then inherited (GetNamedPipeClientProcessId names the opener). So
// the client's first bytes are a hello, "TtH2" + its process id (u32) + the value of its own
// handle of the channel (u64, little-endian), written by channel_open(); the server strips it
// as it reads (take_hello), opens that process with PROCESS_DUP_HANDLE | SYNCHRONIZE and checks
// the claim (verify_peer): that handle, duplicated out of the claimed process without closing
// it, must be the client end of this very pipe. Only then is any value the peer names pulled
// with DUPLICATE_CLOSE_SOURCE. Without the check a peer naming the server's own pid would make
// the server close and re-own its own handles (another owner keeps a dangling value), and with
// an elevated server it would be a confused deputy against any process the server can open.
// Our own pid passes only for a client end a channel of ours opened, and a frame's values and
// the handles pulled for them are checked as well (channel_trust.hpp).
//
// After a hello that does not hold, every frame with handles is errc::protocol_error (data-only
// frames still arrive); a process we may not open is access denied (its own error, not
// peer_gone). A frame starts with "TT", a hello with "Tt": a stream that does not start with a
// hello is passed on untouched (a raw peer that never opened the channel with tether: it can
// exchange bytes, but no handles). The client needs no process handle and no parent pid at all
// (so TETHER_PARENT_PID, which may name the handle vault, plays no part): it never duplicates
// across processes.
#include "windows/channel_endpoint.hpp"

#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "windows/channel_trust.hpp"
#include "windows/win.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace tether::detail {

namespace {

// The hello: "TtH2", the client's process id (u32) and the value of its channel handle in that
// process (u64), little-endian. ("TtHi" + pid alone was the unverifiable first version; a
// server now reads it as data that is no frame: errc::protocol_error.)
constexpr std::array<std::byte, 4> hello_magic{std::byte{'T'}, std::byte{'t'}, std::byte{'H'}, std::byte{'2'}};
constexpr std::size_t hello_size = 16;

void refuse(channel_endpoint& e, std::error_code why) {
    e.hello = channel_endpoint::hello_state::refused;
    e.peer_error = why;
    e.peer_process.reset();
}

// Server: checks the hello's claim before any value the peer names is duplicated with
// DUPLICATE_CLOSE_SOURCE. The peer says "I am process `pid` and my channel handle is `value`":
// that handle is duplicated out of `pid` WITHOUT closing it and must be the client end of this
// very pipe. So a peer cannot name a process that does not hold our channel (our own process,
// or any other the server may open: a confused deputy when the server is elevated). Our own id
// passes only for an in-process peer: a client end a channel of ours opened (channel_trust.hpp;
// a child that may open us could put a copy of its end into our table). A client that has
// exited already cannot be opened or checked; its data and its end-of-file are still to be
// read, so that is no error here: handles then fail with errc::peer_gone. A process we may not
// open (or whose handle we may not duplicate) is access denied, its own error.
void verify_peer(channel_endpoint& e, DWORD pid, std::uint64_t value) {
    if (!plausible_handle_value(value)) return refuse(e, errc::protocol_error);
    if (pid == ::GetCurrentProcessId() && !is_in_process_client(value)) return refuse(e, errc::protocol_error);
    unique_handle process(::OpenProcess(PROCESS_DUP_HANDLE | SYNCHRONIZE, FALSE, pid));
    if (!process) {
        DWORD err = ::GetLastError();
        if (err == ERROR_ACCESS_DENIED) return refuse(e, win_error(err));
        e.hello = channel_endpoint::hello_state::received;  // no such process (any more)
        return;
    }
    e.peer_process = std::move(process);
    e.claimed_value = value;
    e.hello = channel_endpoint::hello_state::unverified;
    settle_peer(e, false);
}

}  // namespace

void send_hello(channel_endpoint& e) {
    in_process_client_opened(e.pipe.get());  // before the hello: ours may claim our pid
    std::array<std::byte, hello_size> hello{};
    std::memcpy(hello.data(), hello_magic.data(), hello_magic.size());
    DWORD pid = ::GetCurrentProcessId();
    for (std::size_t i = 0; i < 4; ++i) hello[4 + i] = static_cast<std::byte>((pid >> (8 * i)) & 0xff);
    auto value = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(e.pipe.get()));  // NOLINT
    for (std::size_t i = 0; i < 8; ++i) hello[8 + i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
    std::error_code wec;
    tether::write_all(e.pipe, hello, wec);
}

void settle_peer(channel_endpoint& e, bool at_use) {
    if (e.hello != channel_endpoint::hello_state::unverified) return;
    auto remote = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(e.claimed_value));  // NOLINT: a handle value
    HANDLE copy = nullptr;
    if (!::DuplicateHandle(e.peer_process.get(), remote, ::GetCurrentProcess(), &copy, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
        DWORD err = ::GetLastError();
        if (process_ended(e.peer_process.get())) {  // gone: its handles fail with errc::peer_gone
            e.peer_process.reset();
            e.hello = channel_endpoint::hello_state::received;
        } else if (err == ERROR_ACCESS_DENIED) {
            refuse(e, win_error(err));
        } else if (at_use) {
            refuse(e, errc::protocol_error);
        }
        return;
    }
    unique_handle checked(copy);
    if (is_our_client_end(checked.get(), e.pipe.get()))
        e.hello = channel_endpoint::hello_state::received;
    else
        refuse(e, errc::protocol_error);
}

// "TT" starts a frame, "Tt" a hello: the first byte that differs from "TtH2" ends the try.
void take_hello(channel_endpoint& e) {
    auto& h = e.hello_part;
    bool mismatch = false;
    while (h.size() < hello_size && e.rd_begin < e.rd_end && !mismatch) {
        h.push_back(e.rd.buf[e.rd_begin++]);
        mismatch = h.size() <= hello_magic.size() && h.back() != hello_magic[h.size() - 1];
    }
    bool complete = h.size() == hello_size;
    if (!complete && !mismatch && !e.eof && e.read_error == 0) return;  // need more bytes
    if (!complete) {
        // Not a hello: give the bytes back in front of what is buffered.
        e.hello = channel_endpoint::hello_state::absent;
        std::vector<std::byte> rest(e.rd.buf.begin() + static_cast<std::ptrdiff_t>(e.rd_begin),
                                    e.rd.buf.begin() + static_cast<std::ptrdiff_t>(e.rd_end));
        h.insert(h.end(), rest.begin(), rest.end());
        if (e.rd.buf.size() < h.size()) e.rd.buf.resize(h.size());
        std::copy(h.begin(), h.end(), e.rd.buf.begin());
        e.rd_begin = 0;
        e.rd_end = h.size();
        h.clear();
        return;
    }
    DWORD pid = 0;
    for (std::size_t i = 4; i-- > 0;) pid = (pid << 8) | std::to_integer<DWORD>(h[4 + i]);
    std::uint64_t value = 0;
    for (std::size_t i = 8; i-- > 0;) value = (value << 8) | std::to_integer<std::uint64_t>(h[8 + i]);
    h.clear();
    verify_peer(e, pid, value);
}

// Blocking: a child that was passed the channel writes its hello as soon as it opens it.
std::error_code need_peer(channel_endpoint& e) {
    while (e.hello == channel_endpoint::hello_state::unknown) {
        advance_read(e);
        if (e.hello != channel_endpoint::hello_state::unknown) break;
        if (e.eof) return errc::peer_gone;
        if (e.read_error != 0) return win_error(e.read_error);
        if (::WaitForSingleObject(event_of(e.rd), INFINITE) != WAIT_OBJECT_0) return last_os_error();
    }
    // A client that closed its end before we read its hello cannot be checked any more: its
    // handle is gone (unverified), or its value names another object by now (refused). But then
    // nobody can receive a handle through this channel, whoever the client was: the peer is gone.
    // (A verified peer needs no read here: a send to it that cannot arrive fails on its own.)
    if (e.hello == channel_endpoint::hello_state::unverified || e.hello == channel_endpoint::hello_state::refused) {
        pump_read(e);
        if (e.eof) return errc::peer_gone;
    }
    settle_peer(e, true);
    if (e.hello == channel_endpoint::hello_state::refused) return e.peer_error;
    if (e.hello == channel_endpoint::hello_state::received)
        return e.peer_process ? std::error_code() : make_error_code(errc::peer_gone);
    return errc::not_supported;  // a raw peer that never opened the channel with tether
}

}  // namespace tether::detail
