// Windows backend of the channel: one duplex named pipe, handles moved with DuplicateHandle.
//
// Transport. make_channel() creates a duplex named pipe with an unguessable name (as make_pipe
// does: FILE_FLAG_FIRST_PIPE_INSTANCE, one instance, local clients only) and opens its client
// at once; both ends are overlapped (timed reads wait on an event and cancel with CancelIoEx)
// and neither is inheritable. Our end is the pipe's SERVER, the end for the child its CLIENT.
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
//
// How the server learns its peer. The pipe cannot tell: the client end was opened by the
// server's own process and then inherited (GetNamedPipeClientProcessId names the opener). So
// the client's first bytes are a hello, "TtH2" + its process id (u32) + the value of its own
// handle of the channel (u64, little-endian), written by channel_open(); the server strips it
// in channel_read(), opens that process with PROCESS_DUP_HANDLE | SYNCHRONIZE and checks the
// claim (verify_peer): that handle, duplicated out of the claimed process without closing it,
// must be the client end of this very pipe. Only then is any value the peer names pulled with
// DUPLICATE_CLOSE_SOURCE. Without the check a peer naming the server's own pid would make the
// server close and re-own its own handles (another owner keeps a dangling value), and with an
// elevated server it would be a confused deputy against any process the server can open. Our
// own pid passes only for a client end a channel of ours opened, and a frame's values and the
// handles pulled for them are checked as well (channel_trust.hpp). After
// a hello that does not hold, every frame with handles is errc::protocol_error (data-only frames
// still arrive); a process we may not open is access denied (its own error, not peer_gone). A frame starts with "TT", a hello with "Tt": a stream that
// does not start with a hello is passed on untouched (a raw peer that never opened the channel
// with tether: it can exchange bytes, but no handles). The client needs no process handle and no parent pid at all (so
// TETHER_PARENT_PID, which may name the handle vault, plays no part): it never duplicates
// across processes.
#include "detail/channel_backend.hpp"
#include "detail/poller_backend.hpp"

#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/os.hpp"
#include "windows/channel_trust.hpp"
#include "windows/win.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bcrypt.h>
#include <cstdio>
#include <cstring>

namespace tether::detail {

// One overlapped operation the endpoint keeps in flight, from its own buffer. The event's
// handle goes into OVERLAPPED::hEvent with the low bit set, so that no completion packet ever
// reaches a completion port the handle may be bound to (GetQueuedCompletionStatus docs).
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

struct channel_endpoint {
    channel_endpoint() = default;
    channel_endpoint(const channel_endpoint&) = delete;
    channel_endpoint& operator=(const channel_endpoint&) = delete;
    // The kernel owns each OVERLAPPED and buffer until its operation completes: cancel and wait
    // before they go (and before the pipe closes).
    // A write cancelled here never reached the peer whole: its pushed copies are taken back.
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

void channel_endpoint_deleter::operator()(channel_endpoint* e) const noexcept { delete e; }

namespace {
void write_done(channel_endpoint& e, bool ok);
void take_back_unsent(channel_endpoint& e, std::span<const std::uint64_t> values) noexcept;
}  // namespace

channel_endpoint::~channel_endpoint() {
    // The kernel owns each OVERLAPPED and buffer until its operation completes: cancel and wait
    // before they go (and before the pipe closes).
    for (auto* io : {&rd, &wr}) {
        if (!io->pending) continue;
        ::CancelIoEx(pipe.get(), &io->ov);
        DWORD n = 0;
        BOOL ok = ::GetOverlappedResult(pipe.get(), &io->ov, &n, TRUE);
        io->pending = false;
        if (io == &wr) write_done(*this, ok != FALSE);
    }
    if (server) take_back_unsent(*this, {});
    else in_process_client_closed(pipe.get());
}

namespace {

// The hello: "TtH2", the client's process id (u32) and the value of its channel handle in that
// process (u64), little-endian. ("TtHi" + pid alone was the unverifiable first version; a
// server now reads it as data that is no frame: errc::protocol_error.)
constexpr std::array<std::byte, 4> hello_magic{std::byte{'T'}, std::byte{'t'}, std::byte{'H'}, std::byte{'2'}};
constexpr std::size_t hello_size = 16;
constexpr DWORD pipe_buffer = 65536;

constexpr std::size_t read_buffer = 16 * 1024;
constexpr std::size_t write_buffer = 64 * 1024;

HANDLE event_of(const pending_io& io) noexcept { return io.event.get(); }

// Completes a finished read: the bytes are in rd.buf, or the pipe ended or failed.
void read_done(channel_endpoint& e, BOOL ok, DWORD n) {
    e.rd.pending = false;
    // ERROR_MORE_DATA (a message-mode pipe given to channel_open, a message longer than our
    // buffer): the n bytes arrived, the rest comes with the next read.
    if ((ok || ::GetLastError() == ERROR_MORE_DATA) && n > 0) {
        e.rd_begin = 0;
        e.rd_end = n;
        return;
    }
    DWORD err = ok ? 0 : ::GetLastError();
    if (ok) return;  // a peer's zero-byte write is not end-of-file: read again
    if (err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED || err == ERROR_HANDLE_EOF) {
        e.eof = true;
        ::SetEvent(e.rd.event.get());  // stays "ready": the end is news until it is read
    } else {
        e.read_error = err;
        ::SetEvent(e.rd.event.get());
    }
}

// Moves the read on without waiting: collects a completed read, or starts the next one.
// Afterwards data is buffered, the end or an error is known, or a read is pending.
void pump_read(channel_endpoint& e) {
    while (e.rd_begin == e.rd_end && !e.eof && e.read_error == 0) {
        DWORD n = 0;
        if (e.rd.pending) {
            BOOL ok = ::GetOverlappedResult(e.pipe.get(), &e.rd.ov, &n, FALSE);
            if (!ok && ::GetLastError() == ERROR_IO_INCOMPLETE) {
                // Bytes wait in the pipe, so the read is completing (wine completes an
                // overlapped read asynchronously even then): collect it rather than report
                // "nothing yet" with data at hand.
                DWORD avail = 0;
                if (!::PeekNamedPipe(e.pipe.get(), nullptr, 0, nullptr, &avail, nullptr) || avail == 0) return;
                ok = ::GetOverlappedResult(e.pipe.get(), &e.rd.ov, &n, TRUE);
            }
            read_done(e, ok, n);
            continue;
        }
        if (e.rd.buf.empty()) e.rd.buf.resize(read_buffer);
        e.rd.start();
        if (::ReadFile(e.pipe.get(), e.rd.buf.data(), static_cast<DWORD>(e.rd.buf.size()), nullptr, &e.rd.ov)) {
            BOOL ok = ::GetOverlappedResult(e.pipe.get(), &e.rd.ov, &n, TRUE);
            read_done(e, ok, n);
            continue;
        }
        DWORD err = ::GetLastError();
        if (err == ERROR_IO_PENDING) {
            e.rd.pending = true;
            return;
        }
        if (err == ERROR_MORE_DATA) {  // failed at once, but with bytes: the count is in rd.ov
            BOOL ok = ::GetOverlappedResult(e.pipe.get(), &e.rd.ov, &n, TRUE);
            read_done(e, ok, n);
            continue;
        }
        read_done(e, FALSE, 0);
    }
}

bool process_ended(HANDLE process) { return ::WaitForSingleObject(process, 0) == WAIT_OBJECT_0; }

// True if `h` is a client end of the very pipe whose server end is `server`: a pipe, not a
// server end, with the same object name. The name is unique (128 random bits, one instance,
// FILE_FLAG_FIRST_PIPE_INSTANCE, owner-only DACL), so the same name means the same instance,
// and the instance has one client end (a second open fails with ERROR_PIPE_BUSY): `h` is that
// end or a duplicate of it. CompareObjectHandles cannot be used: it needs a handle to the
// client end, and a server that kept one would hold the pipe open (no end-of-file when the
// child dies before its hello).
// Synchronous handles are refused first: a query on one waits behind synchronous I/O another
// thread of the claimed process may have blocked on it, and our channel's client end is
// overlapped (channel_open refuses a synchronous one).
bool is_our_client_end(HANDLE h, HANDLE server) {
    if (is_synchronous_handle(h) || ::GetFileType(h) != FILE_TYPE_PIPE) return false;
    DWORD flags = 0;
    if (!::GetNamedPipeInfo(h, &flags, nullptr, nullptr, nullptr) || (flags & PIPE_SERVER_END) != 0) return false;
    auto name = object_name(h);
    return !name.empty() && name == object_name(server);
}

void refuse(channel_endpoint& e, std::error_code why) {
    e.hello = channel_endpoint::hello_state::refused;
    e.peer_error = why;
    e.peer_process.reset();
}

// Server: settles an unverified claim (see verify_peer). `at_use`: a handle is about to move,
// so a claim that still cannot be checked is refused.
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

// Server: strips the client's hello from the front of the stream, if it starts with one
// ("TT" starts a frame, "Tt" a hello). Bytes that turn out not to be a hello stay in front.
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

// Reads on (without waiting) and, on the server, looks for the hello first.
void advance_read(channel_endpoint& e) {
    for (;;) {
        pump_read(e);
        if (!e.server || e.hello != channel_endpoint::hello_state::unknown) return;
        bool had_data = e.rd_begin < e.rd_end;
        take_hello(e);
        if (e.hello != channel_endpoint::hello_state::unknown) return;
        if (!had_data && (e.rd.pending || e.eof || e.read_error != 0)) return;
    }
}

// Server: the client's hello, waited for if it has not come yet (blocking: a child that was
// passed the channel writes it as soon as it opens the channel). Data after it stays buffered.
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

// Takes back `values` (copies pushed for frames never written whole) and every copy whose
// write failed, each once, and forgets them.
void take_back_unsent(channel_endpoint& e, std::span<const std::uint64_t> values) noexcept {
    auto named = [&](std::uint64_t v) { return std::find(values.begin(), values.end(), v) != values.end(); };
    if (e.peer_process) {
        take_back(e, values);
        for (const auto& p : e.pushed)
            if (p.undelivered && !named(p.remote)) take_back(e, std::span(&p.remote, 1));
    }
    std::erase_if(e.pushed, [&](const auto& p) { return p.undelivered || named(p.remote); });
}

const char* pipe_problem(HANDLE h, bool& server) {
    DWORD flags = 0;
    if (!::GetHandleInformation(h, &flags)) return "not an open handle";
    if (::GetFileType(h) != FILE_TYPE_PIPE) return "not a pipe";
    DWORD info = 0;
    if (!::GetNamedPipeInfo(h, &info, nullptr, nullptr, nullptr)) return "not a named pipe";
    server = (info & PIPE_SERVER_END) != 0;
    // Real Windows serializes synchronous I/O per file object: a channel over a synchronous
    // handle deadlocks when one thread sends while another receives, and CancelSynchronousIo
    // cannot bound it. The endpoint keeps overlapped reads and writes in flight instead.
    if (is_synchronous_handle(h)) return "a synchronous pipe handle (opened without FILE_FLAG_OVERLAPPED)";
    ACCESS_MASK access = 0;
    if (granted_access(h, access) && ((access & FILE_READ_DATA) == 0 || (access & FILE_WRITE_DATA) == 0))
        return "a one-way pipe";
    return nullptr;
}

}  // namespace

std::error_code channel_make_pair(endpoint_ptr& ours, unique_handle& theirs, std::string& what) {
    pipe_instance_spec spec;
    spec.kind = L"ch-";
    spec.server_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    spec.pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    spec.buffer_size = pipe_buffer;
    spec.client_access = GENERIC_READ | GENERIC_WRITE;
    spec.client_flags = FILE_FLAG_OVERLAPPED;
    std::error_code ec;
    auto p = create_pipe_instance(spec, ec);
    if (ec) {
        what = p.failed != nullptr ? p.failed : "create the channel's pipe";
        return ec;
    }
    ours.reset(new channel_endpoint{});
    ours->pipe = std::move(p.server);
    ours->server = true;
    theirs = std::move(p.client);
    return {};
}

endpoint_ptr channel_open(unique_handle&& h, std::error_code& ec, std::string& what) {
    unique_handle owned = std::move(h);  // closed on failure
    bool server = false;
    if (const char* problem = pipe_problem(owned.get(), server)) {
        ec = errc::invalid_argument;
        what = std::string(problem) + ", so not a tether channel end (a duplex named pipe)";
        return nullptr;
    }
    if (auto inherit_ec = adopt_inherited(owned.get())) {
        ec = inherit_ec;
        what = "clear HANDLE_FLAG_INHERIT";
        return nullptr;
    }
    endpoint_ptr e(new channel_endpoint{});
    e->pipe = std::move(owned);
    e->server = server;
    if (!server) {
        // The hello: our process id and our handle of this pipe, so the server can check the
        // claim and then move handles to and from us. A server that is gone already cannot
        // read it; receive() will report that, not the constructor.
        in_process_client_opened(e->pipe.get());  // before the hello: ours may claim our pid
        std::array<std::byte, hello_size> hello{};
        std::memcpy(hello.data(), hello_magic.data(), hello_magic.size());
        DWORD pid = ::GetCurrentProcessId();
        for (std::size_t i = 0; i < 4; ++i) hello[4 + i] = static_cast<std::byte>((pid >> (8 * i)) & 0xff);
        auto value = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(e->pipe.get()));  // NOLINT
        for (std::size_t i = 0; i < 8; ++i) hello[8 + i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
        std::error_code wec;
        tether::write_all(e->pipe, hello, wec);
    }
    ec.clear();
    return e;
}

borrowed_handle channel_native(const channel_endpoint& e) noexcept { return e.pipe.borrow(); }

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

namespace {

// The handles that went with a completed write: a client releases them (the server pulls them
// with DUPLICATE_CLOSE_SOURCE, which closes ours), a server closes its copies (the peer has its
// own). After a failed write they are closed either way: undeliverable.
//
// A server's write that FAILED carried frames the peer cannot have received whole, so their
// pushed copies are taken back out of the peer (a peer that closed its end and lives on would
// otherwise keep them). Why "cannot": each write is at most write_buffer = the pipe's quota, and
// a pipe write completes as soon as its remaining bytes fit the buffer; the peer reads in
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

// Collects a finished write without waiting. False while it is still in flight.
bool collect_write(channel_endpoint& e) {
    if (!e.wr.pending) return true;
    DWORD n = 0;
    if (::GetOverlappedResult(e.pipe.get(), &e.wr.ov, &n, FALSE)) {
        e.wr.pending = false;
        write_done(e, true);
        return true;
    }
    DWORD err = ::GetLastError();
    if (err == ERROR_IO_INCOMPLETE) return false;
    e.wr.pending = false;
    e.write_error = err;
    write_done(e, false);
    return true;
}

std::error_code write_error_code(DWORD err) {
    if (err == ERROR_BROKEN_PIPE || err == ERROR_NO_DATA || err == ERROR_PIPE_NOT_CONNECTED) return errc::peer_gone;
    return win_error(err);
}

}  // namespace

// Windows pipes cannot say how much room they have, so the endpoint takes up to 64 KiB into
// its own buffer and keeps one overlapped write of it in flight: "taken" means in our buffer,
// on its way; channel_writing() says when it is still going, and a failure shows at the next
// call (as a socket's does).
std::size_t channel_write_some(channel_endpoint& e, std::span<const std::span<const std::byte>> parts,
                               std::vector<unique_handle>& out_of_band, std::error_code& ec) {
    ec.clear();
    if (!collect_write(e)) {
        ec = errc::would_block;
        return 0;
    }
    if (e.write_error != 0) {
        ec = write_error_code(e.write_error);
        return 0;
    }
    auto& buf = e.wr.buf;
    buf.clear();
    for (auto p : parts) {
        std::size_t take = std::min(p.size(), write_buffer - buf.size());
        buf.insert(buf.end(), p.begin(), p.begin() + static_cast<std::ptrdiff_t>(take));
        if (buf.size() == write_buffer) break;
    }
    if (buf.empty()) return 0;
    e.wr.start();
    if (!::WriteFile(e.pipe.get(), buf.data(), static_cast<DWORD>(buf.size()), nullptr, &e.wr.ov) &&
        ::GetLastError() != ERROR_IO_PENDING) {
        ec = write_error_code(::GetLastError());
        return 0;
    }
    e.wr.pending = true;  // also when it completed at once: collect_write() picks the result up
    for (auto& h : out_of_band) e.wr_handles.push_back(std::move(h));
    out_of_band.clear();
    collect_write(e);
    return buf.size();
}

bool channel_writing(const channel_endpoint& e) noexcept { return e.wr.pending; }

std::size_t channel_read_some(channel_endpoint& e, std::span<std::byte> buf, std::deque<unique_handle>&,
                              std::error_code& ec) {
    ec.clear();
    advance_read(e);
    if (e.server && e.hello == channel_endpoint::hello_state::unknown && !e.eof && e.read_error == 0) {
        ec = errc::would_block;  // the hello is not whole yet
        return 0;
    }
    if (e.rd_begin < e.rd_end) {
        std::size_t n = std::min(buf.size(), e.rd_end - e.rd_begin);
        std::memcpy(buf.data(), e.rd.buf.data() + e.rd_begin, n);
        e.rd_begin += n;
        if (e.rd_begin == e.rd_end) advance_read(e);  // the next read goes on while we decode
        return n;
    }
    if (e.eof) return 0;
    if (e.read_error != 0) {
        ec = win_error(e.read_error);
        return 0;
    }
    ec = errc::would_block;
    return 0;
}

std::error_code channel_wait(channel_endpoint& e, bool want_read, bool want_write, const deadline& d) {
    HANDLE events[2];
    DWORD count = 0;
    if (want_read) {
        advance_read(e);
        if (e.rd_begin < e.rd_end || e.eof || e.read_error != 0) return {};
        events[count++] = event_of(e.rd);
    }
    if (want_write) {
        if (collect_write(e)) return {};
        events[count++] = event_of(e.wr);
    }
    if (count == 0) return {};
    DWORD w = ::WaitForMultipleObjects(count, events, FALSE, d.remaining_ms<DWORD>(INFINITE, INFINITE - 1));
    if (w == WAIT_TIMEOUT) return errc::timed_out;
    if (w == WAIT_FAILED) return last_os_error();
    return {};
}

source_watch channel_arm(channel_endpoint& e, bool want_write) noexcept {
    // The read event is signalled while there is news (data, the end, an error) and reset by
    // the ReadFile that starts the next read: a one-shot wait on it is exact.
    advance_read(e);
    source_watch w{event_of(e.rd), watch_object, invalid_native_handle(), 0};
    if (want_write && e.wr.pending) w.writable = event_of(e.wr), w.write_how = watch_object;
    return w;
}

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
