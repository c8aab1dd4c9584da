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
//   server -> client: PUSH. The server duplicates each handle into the client process and
//     sends the client's new value; its own copy is closed once the frame is written. If the
//     client process dies first, Windows frees the copy with its handle table; a client that
//     lives on but never reads the frame owns that handle (it is in its table).
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
// the client's first bytes are a hello, "TtHi" + its process id (u32, little-endian), written
// by channel_open(); the server strips it in channel_read() and opens that process with
// PROCESS_DUP_HANDLE | SYNCHRONIZE. A frame starts with "TT", a hello with "Tt": a stream that
// does not start with a hello is passed on untouched (a raw peer that never opened the channel
// with tether: it can exchange bytes, but no handles). The pid is the peer's claim; a child lying
// about it can only aim the server's DuplicateHandle at processes the server may open with
// PROCESS_DUP_HANDLE anyway. The client needs no process handle and no parent pid at all (so
// TETHER_PARENT_PID, which names the spawn's handle vault, plays no part): it never duplicates
// across processes.
#include "detail/channel_backend.hpp"

#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/os.hpp"
#include "windows/win.hpp"

#include <array>
#include <atomic>
#include <bcrypt.h>
#include <cstdio>
#include <cstring>

namespace tether::detail {

struct channel_endpoint {
    unique_handle pipe;
    bool server{false};
    // Server only: the hello state, the client process, and bytes read while looking for a
    // hello that turned out to be ordinary data.
    enum class hello_state { unknown, received, absent } hello{hello_state::unknown};
    unique_handle peer_process;
    std::vector<std::byte> hello_part;
    std::vector<std::byte> stash;
    bool eof{false};
};

void channel_endpoint_deleter::operator()(channel_endpoint* e) const noexcept { delete e; }

namespace {

using clock = std::chrono::steady_clock;
constexpr std::array<std::byte, 4> hello_magic{std::byte{'T'}, std::byte{'t'}, std::byte{'H'}, std::byte{'i'}};
constexpr std::size_t hello_size = 8;
constexpr DWORD pipe_buffer = 65536;

std::size_t read_some(channel_endpoint& e, std::span<std::byte> buf, deadline_t deadline, std::error_code& ec) {
    if (!deadline) return tether::read(e.pipe, buf, ec);
    auto left = std::chrono::ceil<milliseconds>(*deadline - clock::now());
    return tether::read_for(e.pipe, buf, left.count() < 0 ? milliseconds(0) : left, ec);
}

// Server: reads the client's hello if the stream starts with one. Reads no further than the
// hello, so frame bytes stay in the pipe; bytes that turn out not to be a hello go to the
// stash and are delivered as data. A timeout keeps the part read so far for the next call.
std::error_code take_hello(channel_endpoint& e, deadline_t deadline) {
    auto& h = e.hello_part;
    while (h.size() < hello_size) {
        // A byte at a time until the magic is certain ("TT" starts a frame, "Tt" a hello).
        std::size_t want = h.size() < hello_magic.size() ? 1 : hello_size - h.size();
        std::array<std::byte, hello_size> chunk{};
        std::error_code ec;
        auto n = read_some(e, std::span(chunk).first(want), deadline, ec);
        if (ec) return ec;
        if (n == 0) {  // end-of-file before a whole hello
            e.eof = true;
            break;
        }
        h.insert(h.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
        if (h.size() <= hello_magic.size() && h.back() != hello_magic[h.size() - 1]) break;
    }
    if (h.size() < hello_size) {
        e.hello = channel_endpoint::hello_state::absent;
        e.stash = std::move(h);
        h.clear();
        return {};
    }
    DWORD pid = 0;
    for (std::size_t i = 4; i-- > 0;) pid = (pid << 8) | std::to_integer<DWORD>(h[4 + i]);
    // A client that has exited already cannot be opened; its data and its end-of-file are
    // still to be read, so that is no error here: handles then fail with errc::peer_gone.
    e.peer_process.reset(::OpenProcess(PROCESS_DUP_HANDLE | SYNCHRONIZE, FALSE, pid));
    e.hello = channel_endpoint::hello_state::received;
    h.clear();
    return {};
}

bool process_ended(HANDLE process) { return ::WaitForSingleObject(process, 0) == WAIT_OBJECT_0; }

// Server: the client's hello, waited for if it has not come yet (blocking: a child that was
// passed the channel writes it as soon as it opens the channel).
std::error_code need_peer(channel_endpoint& e) {
    if (e.hello == channel_endpoint::hello_state::unknown) {
        if (auto ec = take_hello(e, std::nullopt)) return ec;
    }
    if (e.hello == channel_endpoint::hello_state::received)
        return e.peer_process ? std::error_code() : make_error_code(errc::peer_gone);
    if (e.eof) return errc::peer_gone;
    return errc::not_supported;  // a raw peer that never opened the channel with tether
}

// Closes copies we pushed into the peer for a frame that will never be sent (the peer has not
// seen their values, so nobody else can own them). Pulled back and closed here, since wine
// refuses DuplicateHandle with a NULL target process.
void take_back(channel_endpoint& e, std::span<const std::uint64_t> pushed) noexcept {
    for (auto v : pushed) {
        HANDLE back = nullptr;
        if (::DuplicateHandle(e.peer_process.get(), reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v)),  // NOLINT
                              ::GetCurrentProcess(), &back, 0, FALSE, DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE))
            ::CloseHandle(back);
    }
}

const char* pipe_problem(HANDLE h, bool& server) {
    DWORD flags = 0;
    if (!::GetHandleInformation(h, &flags)) return "not an open handle";
    if (::GetFileType(h) != FILE_TYPE_PIPE) return "not a pipe";
    DWORD info = 0;
    if (!::GetNamedPipeInfo(h, &info, nullptr, nullptr, nullptr)) return "not a named pipe";
    server = (info & PIPE_SERVER_END) != 0;
    ACCESS_MASK access = 0;
    if (granted_access(h, access) && ((access & FILE_READ_DATA) == 0 || (access & FILE_WRITE_DATA) == 0))
        return "a one-way pipe";
    return nullptr;
}

}  // namespace

std::error_code channel_make_pair(endpoint_ptr& ours, unique_handle& theirs) {
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, FALSE};  // never inheritable
    std::wstring name = detail::unique_pipe_name(L"ch-");
    DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE;
    DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
    unique_handle server(::CreateNamedPipeW(name.c_str(), open_mode, pipe_mode, 1, pipe_buffer, pipe_buffer, 0, &sa));
    if (!server) return last_os_error();
    unique_handle client(::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, &sa, OPEN_EXISTING,
                                       FILE_FLAG_OVERLAPPED, nullptr));
    if (!client) return last_os_error();
    ULONG pid = 0;
    if (::GetNamedPipeClientProcessId(server.get(), &pid) && pid != ::GetCurrentProcessId())
        return errc::not_a_pipe;  // someone else connected first (the name is unguessable)
    ours.reset(new channel_endpoint{});
    ours->pipe = std::move(server);
    ours->server = true;
    theirs = std::move(client);
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
        // The hello: our process id, so the server can move handles to and from us. A server
        // that is gone already cannot read it; receive() will report that, not the constructor.
        std::array<std::byte, hello_size> hello{};
        std::memcpy(hello.data(), hello_magic.data(), hello_magic.size());
        DWORD pid = ::GetCurrentProcessId();
        for (std::size_t i = 0; i < 4; ++i) hello[4 + i] = static_cast<std::byte>((pid >> (8 * i)) & 0xff);
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
    if (auto ec = need_peer(e)) return ec;
    const std::size_t first = wire.size();
    for (auto& h : owned) {
        HANDLE remote = nullptr;
        if (!::DuplicateHandle(::GetCurrentProcess(), h.get(), e.peer_process.get(), &remote, 0, FALSE,
                               DUPLICATE_SAME_ACCESS)) {
            auto ec = process_ended(e.peer_process.get()) ? make_error_code(errc::peer_gone) : last_os_error();
            take_back(e, std::span(wire).subspan(first));
            wire.resize(first);
            return ec;
        }
        wire.push_back(reinterpret_cast<std::uintptr_t>(remote));  // NOLINT: a handle value
        out_of_band.push_back(std::move(h));  // closed once the frame is written
    }
    return {};
}

std::size_t channel_max_out_of_band() noexcept { return 256; }

std::error_code channel_write(channel_endpoint& e, std::span<const std::span<const std::byte>> parts,
                              std::vector<unique_handle>& out_of_band) {
    std::error_code ec;
    for (auto p : parts) {
        if (p.empty()) continue;
        tether::write_all(e.pipe, p, ec);
        if (ec) break;
    }
    if (!e.server && !ec) {
        // Written: the server pulls these with DUPLICATE_CLOSE_SOURCE, which closes our copies.
        for (auto& h : out_of_band) (void)h.release();
    }
    out_of_band.clear();  // server: our copies (the peer has its own); failure: undeliverable
    return ec;
}

std::size_t channel_read(channel_endpoint& e, std::span<std::byte> buf, std::deque<unique_handle>&,
                         deadline_t deadline, std::error_code& ec) {
    ec.clear();
    if (e.server && e.hello == channel_endpoint::hello_state::unknown) {
        if ((ec = take_hello(e, deadline))) return 0;
    }
    if (!e.stash.empty()) {
        std::size_t n = std::min(buf.size(), e.stash.size());
        std::memcpy(buf.data(), e.stash.data(), n);
        e.stash.erase(e.stash.begin(), e.stash.begin() + static_cast<std::ptrdiff_t>(n));
        return n;
    }
    if (e.eof) return 0;
    auto n = read_some(e, buf, deadline, ec);
    if (!ec && n == 0) e.eof = true;
    return n;
}

std::error_code channel_import_handles(channel_endpoint& e, std::span<const std::uint64_t> wire,
                                       std::deque<unique_handle>&, std::vector<unique_handle>& out) {
    for (auto v : wire) {
        auto value = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v));  // NOLINT: a handle value
        if (v == 0 || v > UINT32_MAX || !is_valid_native(value)) return errc::protocol_error;
        if (!e.server) {
            // Pushed into us by the server: check it is open, then own it.
            DWORD flags = 0;
            if (!::GetHandleInformation(value, &flags)) return errc::protocol_error;
            out.emplace_back(value);
            continue;
        }
        if (e.hello != channel_endpoint::hello_state::received) return errc::protocol_error;
        if (!e.peer_process) return errc::peer_gone;
        HANDLE mine = nullptr;
        if (!::DuplicateHandle(e.peer_process.get(), value, ::GetCurrentProcess(), &mine, 0, FALSE,
                               DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE))
            return process_ended(e.peer_process.get()) ? errc::peer_gone : errc::protocol_error;
        out.emplace_back(mine);
    }
    return {};
}

}  // namespace tether::detail
