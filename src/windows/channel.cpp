// Windows backend of the channel: one duplex named pipe, handles moved with DuplicateHandle.
//
// Transport. make_channel() creates a duplex named pipe with an unguessable name (as make_pipe
// does: FILE_FLAG_FIRST_PIPE_INSTANCE, one instance, local clients only) and opens its client
// at once; both ends are overlapped (timed reads wait on an event and cancel with CancelIoEx)
// and neither is inheritable. Our end is the pipe's SERVER, the end for the child its CLIENT.
// This file moves the bytes; the hello is in channel_hello.cpp, the handles that travel with
// frames in channel_handles.cpp.
#include "windows/channel_endpoint.hpp"

#include "detail/backend.hpp"

#include <tether/error.hpp>

#include "detail/backend.hpp"
#include "windows/channel_trust.hpp"
#include "windows/win.hpp"

#include <algorithm>
#include <cstring>

namespace tether::detail {

void channel_endpoint_deleter::operator()(channel_endpoint* e) const noexcept { delete e; }

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

constexpr DWORD pipe_buffer = 65536;
constexpr std::size_t read_buffer = 16 * 1024;
constexpr std::size_t write_buffer = 64 * 1024;

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

}  // namespace

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

namespace {

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
    // A server that is gone already cannot read the hello; receive() will report that, not the
    // constructor.
    if (!server) send_hello(*e);
    ec.clear();
    return e;
}

borrowed_handle channel_native(const channel_endpoint& e) noexcept { return e.pipe.borrow(); }

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

}  // namespace tether::detail
