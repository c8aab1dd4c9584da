// Windows backend of the poller's reactor: an I/O completion port that thread-pool waits post
// to. Every watch ends as a packet on the port whose key is the portable layer's watch key and
// whose byte count carries the ready flags:
//
//   watch_process / watch_object: a thread-pool wait (CreateThreadpoolWait, armed once with
//     SetThreadpoolWait) on the process handle or event; its callback posts the packet. (wine 8
//     has no NtCreateWaitCompletionPacket, the direct way.) A watch is stopped the documented
//     way before its memory goes: disarm, WaitForThreadpoolWaitCallbacks(cancel pending), close.
//     Not RegisterWaitForSingleObject: under wine 8 its UnregisterWaitEx raced with a firing
//     wait (a crash in the thread pool, or a callback after the wait was gone) in our stress
//     test; the thread-pool wait objects it is built on did not.
//   watch_read on a pipe end: a zero-byte overlapped ReadFile of our own, which completes when
//     data (or the end) is there without consuming anything — libuv's "zero read" — and a
//     wait on its event. Level-triggered like epoll: a watch that fired is re-armed by the next
//     reactor_wait, so data the user left unread is reported again.
//   watch_write on a pipe end: Windows pipes have no write readiness. The pipe's write quota
//     (NtQueryInformationFile, FilePipeLocalInformation) says a write fits: writable at once.
//     A quota of 0 means a full pipe — or a system that does not report it (wine 8 always says
//     0) — so writable is then reported at most every 10 ms, and try_write() tells which.
//
// Our OVERLAPPED events carry the low bit, so a handle the user bound to a completion port of
// their own never receives a packet of ours.
#include "detail/backend.hpp"

#include <tether/error.hpp>

#include "windows/win.hpp"

#include <unordered_map>
#include <winternl.h>

namespace tether::detail {
namespace {

struct watch {
    struct reactor* owner{nullptr};
    std::uint64_t key{0};
    HANDLE object{nullptr};  // what the registered wait waits on
    PTP_WAIT wait{nullptr};  // the thread-pool wait, created on first use and re-armed
    unsigned what{0};
    // watch_read / watch_write on a pipe end
    HANDLE pipe{nullptr};
    OVERLAPPED ov{};
    unique_handle event;
    bool reading{false};  // the zero-byte read is in flight
    bool rearm{false};    // fired: re-arm at the next wait (level-triggered)
    deadline next_writable{deadline::now()};  // watch_write without quota: not before this
};

void CALLBACK on_signalled(PTP_CALLBACK_INSTANCE, void* context, PTP_WAIT, TP_WAIT_RESULT) noexcept;

}  // namespace

struct reactor {
    unique_handle port;
    std::unordered_map<std::uint64_t, std::unique_ptr<watch>> watches;
};

void reactor_deleter::operator()(reactor* r) const noexcept {
    if (r == nullptr) return;
    while (!r->watches.empty()) reactor_unwatch(*r, r->watches.begin()->first, nullptr);
    delete r;
}

namespace {

void post(reactor& r, std::uint64_t key, unsigned events) noexcept {
    ::PostQueuedCompletionStatus(r.port.get(), events, static_cast<ULONG_PTR>(key), nullptr);
}

void CALLBACK on_signalled(PTP_CALLBACK_INSTANCE, void* context, PTP_WAIT, TP_WAIT_RESULT) noexcept {
    auto* w = static_cast<watch*>(context);
    unsigned ready = (w->what & watch_read) ? ready_read : ready_signalled;
    post(*w->owner, w->key, ready);
}

// Disarms the wait; once it returns no callback for `w` runs or is queued, so `w` may go.
void stop_wait(watch& w) noexcept {
    if (w.wait == nullptr) return;
    ::SetThreadpoolWait(w.wait, nullptr, nullptr);
    ::WaitForThreadpoolWaitCallbacks(w.wait, TRUE);
    ::CloseThreadpoolWait(w.wait);
    w.wait = nullptr;
}

// Arms a one-shot wait on w.object (a fired thread-pool wait is re-armed by arming it again).
std::error_code start_wait(watch& w) {
    if (w.wait == nullptr) {
        w.wait = ::CreateThreadpoolWait(&on_signalled, &w, nullptr);
        if (w.wait == nullptr) return last_os_error();
    }
    ::SetThreadpoolWait(w.wait, w.object, nullptr);
    return {};
}

// watch_read: starts the zero-byte read. Data or the end already there: reported at once.
std::error_code arm_read(watch& w) {
    w.rearm = false;
    if (w.reading) return {};
    w.ov = OVERLAPPED{};
    w.ov.hEvent = reinterpret_cast<HANDLE>(reinterpret_cast<std::uintptr_t>(w.event.get()) | 1);  // NOLINT
    static char none;
    if (::ReadFile(w.pipe, &none, 0, nullptr, &w.ov)) {
        post(*w.owner, w.key, ready_read);
        return {};
    }
    DWORD err = ::GetLastError();
    if (err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED) {
        post(*w.owner, w.key, ready_read | ready_hangup);
        return {};
    }
    if (err != ERROR_IO_PENDING) return win_error(err);
    w.reading = true;
    w.object = w.event.get();
    return start_wait(w);
}

void cancel_read(watch& w) noexcept {
    if (!w.reading) return;
    ::CancelIoEx(w.pipe, &w.ov);
    DWORD n = 0;
    ::GetOverlappedResult(w.pipe, &w.ov, &n, TRUE);  // the kernel owns `ov` until it completes
    w.reading = false;
}

// Whether a write to `pipe` would fit now; true when the system cannot say.
bool write_fits(HANDLE pipe) noexcept {
    pipe_local_information info{};
    return !query_pipe_local(pipe, info) || info.write_quota_available > 0;
}

}  // namespace

bool reactor_process_ended(native_handle process) noexcept {
    return ::WaitForSingleObject(process, 0) == WAIT_OBJECT_0;  // waiting reaps nothing on Windows
}

reactor_ptr reactor_create(std::error_code& ec) {
    HANDLE port = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (port == nullptr) {
        ec = last_os_error();
        return nullptr;
    }
    ec.clear();
    reactor_ptr r(new reactor{});
    r->port.reset(port);
    return r;
}

std::error_code reactor_watch(reactor& r, std::uint64_t key, native_handle h, unsigned what, bool) {
    auto& slot = r.watches[key];
    if (slot && slot->what == what && slot->object == h && (what & (watch_process | watch_object)))
        return start_wait(*slot);  // re-arming a one-shot watch: the same thread-pool wait
    if (slot) reactor_unwatch(r, key, h);  // a change
    auto& fresh = r.watches[key];
    fresh = std::make_unique<watch>();
    auto& w = *fresh;
    w.owner = &r;
    w.key = key;
    w.what = what;
    std::error_code ec;
    if (what & (watch_process | watch_object)) {
        w.object = h;
        ec = start_wait(w);
    } else {
        // A zero-byte read on a synchronous handle would block the loop: reading needs overlapped.
        if ((what & watch_read) && is_synchronous_handle(h)) ec = errc::invalid_argument;
        w.pipe = h;
        w.event.reset(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
        if (!ec && !w.event) ec = last_os_error();
        if (!ec && (what & watch_read)) ec = arm_read(w);
    }
    if (ec) r.watches.erase(key);
    return ec;
}

void reactor_unwatch(reactor& r, std::uint64_t key, native_handle) noexcept {
    auto it = r.watches.find(key);
    if (it == r.watches.end()) return;
    auto& w = *it->second;
    stop_wait(w);
    cancel_read(w);
    r.watches.erase(it);
}

std::error_code reactor_wait(reactor& r, const deadline& d, std::vector<reactor_ready>& out) {
    // Level triggering for pipe ends: re-arm what fired; report writable ends that have room.
    bool write_full = false;
    for (auto& [key, w] : r.watches) {
        if ((w->what & watch_read) && w->rearm) (void)arm_read(*w);
        if (w->what & watch_write) {
            if (write_fits(w->pipe) || w->next_writable.expired()) {
                post(r, key, ready_write);
                w->next_writable = deadline::after(std::chrono::milliseconds(10));
            } else {
                write_full = true;
            }
        }
    }
    auto until = write_full ? d.earlier(deadline::after(std::chrono::milliseconds(10))) : d;
    DWORD timeout = until.template remaining_ms<DWORD>(INFINITE, INFINITE - 1);
    for (;;) {
        OVERLAPPED_ENTRY entries[64];
        ULONG n = 0;
        if (!::GetQueuedCompletionStatusEx(r.port.get(), entries, 64, &n, timeout, FALSE)) {
            DWORD err = ::GetLastError();
            return err == WAIT_TIMEOUT ? std::error_code() : win_error(err);
        }
        for (ULONG k = 0; k < n; ++k) {
            auto key = static_cast<std::uint64_t>(entries[k].lpCompletionKey);
            unsigned events = entries[k].dwNumberOfBytesTransferred;
            auto it = r.watches.find(key);
            if (it != r.watches.end() && (it->second->what & watch_read) && it->second->reading) {
                // The zero-byte read finished: collect it (the end shows as its error).
                // The fired wait is disarmed by itself; it is re-armed with the next read.
                auto& w = *it->second;
                DWORD got = 0;
                if (!::GetOverlappedResult(w.pipe, &w.ov, &got, FALSE)) {
                    DWORD err = ::GetLastError();
                    // Still in flight: the packet was an earlier watch's under the same key.
                    if (err == ERROR_IO_INCOMPLETE) continue;
                    if (err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED) events |= ready_hangup;
                }
                w.reading = false;
            }
            if (it != r.watches.end() && (it->second->what & watch_read)) it->second->rearm = true;
            out.push_back({key, events});
        }
        return {};
    }
}

}  // namespace tether::detail
