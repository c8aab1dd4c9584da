// Windows backend: the I/O hooks (backend.hpp, section 2; the public functions are
// src/io_common.cpp's): blocking and timed read/write with the POSIX meaning of end-of-file and of
// "peer gone" (libuv src/win/error.c and Rust's child_pipe.rs map the same errors):
//   read:  ERROR_BROKEN_PIPE (109) / ERROR_HANDLE_EOF = end-of-file, returned as 0 bytes;
//          ERROR_MORE_DATA (234, a message-mode pipe's message longer than the buffer) is data;
//   write: ERROR_BROKEN_PIPE, ERROR_NO_DATA (232), ERROR_PIPE_NOT_CONNECTED (233) = peer_gone.
// Zero-byte writes are never issued: on a pipe one completes the reader's ReadFile with 0 bytes
// while the pipe is still open, which a reader would take for end-of-file. For the same reason
// a 0-byte ReadFile success on a pipe is not end-of-file here; we read again.
//
// Timeouts: an overlapped handle (our ends of tether's pipes) waits on its OVERLAPPED event and
// cancels with CancelIoEx. A synchronous handle (a child's end, or one from CreatePipe or .NET)
// cannot wait, so a thread-pool timer cancels the blocked call with CancelSynchronousIo.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/deadline.hpp"
#include "detail/backend.hpp"
#include "detail/forward.hpp"
#include "windows/win.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>

namespace tether {
namespace {

using detail::deadline;
constexpr DWORD max_chunk = 1u << 30;
constexpr DWORD timed_chunk = 4096;

DWORD remaining_ms(const deadline& d) { return d.remaining_ms<DWORD>(INFINITE, INFINITE - 1); }


// One manual-reset event per thread for overlapped calls, kept in a fiber-local storage slot
// whose callback closes it when the thread ends. Creating and closing an event per call cost
// 6x in small-message throughput under wine (450 vs 73 us per 16-byte message), and a C++
// thread_local owner is not an option: MinGW's emutls destroys thread_local objects at thread
// exit in an order that corrupted the heap under wine (2 crashes in 10 runs of the concurrent
// spawn test).
class event_slot {
public:
    event_slot() noexcept : slot_(::FlsAlloc(&event_slot::close_event)) {}
    event_slot(const event_slot&) = delete;
    event_slot& operator=(const event_slot&) = delete;
    ~event_slot() {
        if (slot_ != FLS_OUT_OF_INDEXES) ::FlsFree(slot_);  // closes every thread's event (DLL unload)
    }
    HANDLE get() noexcept {
        if (slot_ == FLS_OUT_OF_INDEXES) return nullptr;
        auto event = static_cast<HANDLE>(::FlsGetValue(slot_));
        if (event != nullptr) return event;
        event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);  // not inheritable
        if (event != nullptr && !::FlsSetValue(slot_, event)) {
            ::CloseHandle(event);
            return nullptr;
        }
        return event;
    }

private:
    static void WINAPI close_event(void* event) {
        if (event != nullptr) ::CloseHandle(static_cast<HANDLE>(event));
    }
    DWORD slot_;
};

HANDLE thread_event() noexcept {
    static event_slot slot;
    return slot.get();
}

// Cancels the calling thread's synchronous I/O once the deadline passes, re-arming every few
// milliseconds until the caller says done(): a cancel that lands just before the call starts
// would otherwise be lost.
class sync_io_deadline {
public:
    sync_io_deadline(const deadline& d) : deadline_(d) {
        if (deadline_.is_never()) return;
        HANDLE self = nullptr;
        ::DuplicateHandle(::GetCurrentProcess(), ::GetCurrentThread(), ::GetCurrentProcess(), &self,
                          THREAD_TERMINATE, FALSE, 0);
        thread_.reset(self);
        timer_ = ::CreateThreadpoolTimer(&sync_io_deadline::fire, this, nullptr);
        if (timer_ != nullptr) arm(remaining_ms(deadline_));
    }
    sync_io_deadline(const sync_io_deadline&) = delete;
    sync_io_deadline& operator=(const sync_io_deadline&) = delete;
    ~sync_io_deadline() { done(); }
    [[nodiscard]] bool usable() const noexcept { return deadline_.is_never() || (timer_ != nullptr && thread_); }
    /// No cancel is issued after this returns.
    void done() noexcept {
        if (timer_ == nullptr) return;
        {
            std::lock_guard lock(mutex_);
            finished_ = true;
        }
        ::SetThreadpoolTimer(timer_, nullptr, 0, 0);
        ::WaitForThreadpoolTimerCallbacks(timer_, TRUE);
        ::CloseThreadpoolTimer(timer_);
        timer_ = nullptr;
    }
    [[nodiscard]] bool fired() const noexcept { return fired_; }

private:
    void arm(DWORD ms) {
        // A negative due time is relative, in 100 ns units.
        LARGE_INTEGER due;
        due.QuadPart = -static_cast<LONGLONG>(ms) * 10000;
        FILETIME ft{static_cast<DWORD>(due.LowPart), static_cast<DWORD>(due.HighPart)};
        ::SetThreadpoolTimer(timer_, &ft, 0, 0);
    }
    static void CALLBACK fire(PTP_CALLBACK_INSTANCE, void* self, PTP_TIMER) {
        auto* me = static_cast<sync_io_deadline*>(self);
        std::lock_guard lock(me->mutex_);
        if (me->finished_) return;
        me->fired_ = true;
        ::CancelSynchronousIo(me->thread_.get());
        me->arm(5);
    }

    deadline deadline_;
    unique_handle thread_;
    PTP_TIMER timer_{nullptr};
    std::mutex mutex_;
    bool finished_{false};
    bool fired_{false};
};

// The event of an OVERLAPPED whose hEvent carries the "no completion packet" low bit.
HANDLE event_of(const OVERLAPPED& ov) noexcept {
    return reinterpret_cast<HANDLE>(reinterpret_cast<std::uintptr_t>(ov.hEvent) & ~std::uintptr_t{1});  // NOLINT
}

// Completes an overlapped call that returned ERROR_IO_PENDING, cancelling at the deadline.
// Returns the Win32 error (0 on success) and the byte count.
DWORD finish_overlapped(HANDLE h, OVERLAPPED& ov, const deadline& d, DWORD& n) {
    DWORD w = ::WaitForSingleObject(event_of(ov), remaining_ms(d));
    bool timed_out = w == WAIT_TIMEOUT;
    if (timed_out) ::CancelIoEx(h, &ov);
    // Always wait for the result: the kernel owns `ov` until the operation is complete.
    if (::GetOverlappedResult(h, &ov, &n, TRUE)) return 0;
    DWORD err = ::GetLastError();
    return timed_out && err == ERROR_OPERATION_ABORTED ? WAIT_TIMEOUT : err;
}

// One ReadFile or WriteFile: returns the Win32 error (0 on success; WAIT_TIMEOUT when the deadline
// cancelled it) and the bytes transferred.
template <bool Write, class Ptr>
DWORD transfer(HANDLE h, Ptr data, DWORD len, const deadline& deadline, DWORD& n) {
    n = 0;
    auto call = [&](LPDWORD count, LPOVERLAPPED ov) -> BOOL {
        if constexpr (Write) return ::WriteFile(h, data, len, count, ov);
        else return ::ReadFile(h, data, len, count, ov);
    };
    if (detail::is_synchronous_handle(h)) {
        sync_io_deadline guard(deadline);
        if (!guard.usable()) return ::GetLastError();
        BOOL ok = call(&n, nullptr);
        DWORD err = ok ? 0 : ::GetLastError();
        guard.done();
        if (!ok && err == ERROR_OPERATION_ABORTED && guard.fired()) return WAIT_TIMEOUT;
        return err;
    }
    HANDLE event = thread_event();
    if (event == nullptr) return ::GetLastError();
    OVERLAPPED ov{};
    // The low bit tells the kernel not to post this completion to a completion port the
    // handle may be bound to (the user's, or a tether::poller's): our blocking call waits on
    // the event itself, and the port's owner must not see a packet for an OVERLAPPED that is
    // gone by then (GetQueuedCompletionStatus docs, "hEvent low-order bit").
    ov.hEvent = reinterpret_cast<HANDLE>(reinterpret_cast<std::uintptr_t>(event) | 1);  // NOLINT
    if (call(nullptr, &ov)) return ::GetOverlappedResult(h, &ov, &n, TRUE) ? 0 : ::GetLastError();
    DWORD err = ::GetLastError();
    // A read that fails at once with ERROR_MORE_DATA did transfer bytes: the count is in `ov`.
    if (err == ERROR_MORE_DATA) return ::GetOverlappedResult(h, &ov, &n, TRUE) ? 0 : ::GetLastError();
    if (err != ERROR_IO_PENDING) return err;
    return finish_overlapped(h, ov, deadline, n);
}

std::size_t read_impl(HANDLE h, std::span<std::byte> buf, const deadline& deadline, std::error_code& ec) noexcept {
    ec.clear();
    DWORD len = static_cast<DWORD>(std::min<std::size_t>(buf.size(), max_chunk));
    for (;;) {
        DWORD n = 0;
        DWORD err = transfer<false>(h, buf.data(), len, deadline, n);
        // ERROR_MORE_DATA: a message-mode pipe's message is longer than `buf`. The n bytes did
        // arrive (the rest waits for the next read): they are data, not an error.
        if ((err == 0 || err == ERROR_MORE_DATA) && n > 0) return n;
        if (err == 0 && ::GetFileType(h) != FILE_TYPE_PIPE) return 0;  // a file's end
        if (err == 0) continue;  // a peer's zero-byte write on a pipe is not end-of-file
        if (err == ERROR_BROKEN_PIPE || err == ERROR_HANDLE_EOF) return 0;
        // A handle without read access: on a pipe, its write end.
        if (err == ERROR_ACCESS_DENIED) ec = errc::wrong_direction;
        else ec = err == WAIT_TIMEOUT ? make_error_code(errc::timed_out) : detail::win_error(err);
        return 0;
    }
}

std::size_t write_impl(HANDLE h, std::span<const std::byte> data, const deadline& deadline,
                       std::error_code& ec) noexcept {
    ec.clear();
    std::size_t done = 0;
    // With a deadline, write in small pieces: a pipe WriteFile completes only once all of its
    // bytes are in the pipe, and a cancelled one reports none of them, so one big call would
    // report no progress at all. 4 KiB is what Linux guarantees atomic (PIPE_BUF).
    std::size_t chunk = deadline.is_never() ? max_chunk : timed_chunk;
    while (done < data.size()) {  // never a zero-byte write
        DWORD len = static_cast<DWORD>(std::min<std::size_t>(data.size() - done, chunk));
        DWORD n = 0;
        DWORD err = transfer<true>(h, data.data() + done, len, deadline, n);
        done += n;
        if (err == 0) continue;
        if (err == ERROR_BROKEN_PIPE || err == ERROR_NO_DATA || err == ERROR_PIPE_NOT_CONNECTED)
            ec = errc::peer_gone;
        else
            ec = err == WAIT_TIMEOUT ? make_error_code(errc::timed_out) : detail::win_error(err);
        return done;
    }
    return done;
}

}  // namespace

// Windows has no splice for pipes (TransmitFile only sends a file into a socket), and no
// scheduling class like SCHED_BATCH: forward_options changes nothing here.
std::uint64_t detail::io_forward(native_handle from, native_handle to, const forward_options& /*opt*/,
                                 std::error_code& ec) noexcept {
    return detail::copy_to_end(borrowed_handle(from), borrowed_handle(to), ec);
}

std::size_t detail::io_read(native_handle h, std::span<std::byte> buf, const deadline& d, std::error_code& ec) noexcept {
    return read_impl(h, buf, d, ec);
}

std::size_t detail::io_try_read(native_handle h, std::span<std::byte> buf, std::error_code& ec) noexcept {
    ec.clear();
    if (::GetFileType(h) != FILE_TYPE_PIPE) return read_impl(h, buf, deadline::never(), ec);
    // A pipe: read only what is there, so the ReadFile completes at once. Peek also reports the
    // end (ERROR_BROKEN_PIPE) without consuming anything.
    DWORD avail = 0;
    if (!::PeekNamedPipe(h, nullptr, 0, nullptr, &avail, nullptr)) {
        DWORD err = ::GetLastError();
        if (err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED) return 0;  // end-of-file
        ec = detail::win_error(err);
        return 0;
    }
    if (avail == 0) {
        ec = errc::would_block;
        return 0;
    }
    return read_impl(h, buf.first(std::min<std::size_t>(buf.size(), avail)), deadline::never(), ec);
}

std::size_t detail::io_try_write(native_handle h, std::span<const std::byte> data, std::error_code& ec) noexcept {
    // Windows pipes cannot say how much room they have: one PIPE_BUF-sized write is started and
    // cancelled at once if it does not complete (a cancelled pipe write reports what it wrote).
    auto n = write_impl(h, data.first(std::min<std::size_t>(data.size(), timed_chunk)), deadline::now(), ec);
    if (ec == errc::timed_out) ec = n > 0 ? std::error_code() : make_error_code(errc::would_block);
    return n;
}

std::error_code detail::io_ignore_sigpipe(std::string& /*what*/) {
    return {};  // no SIGPIPE on Windows: a write to a gone reader is ERROR_NO_DATA
}

std::size_t detail::io_write(native_handle h, std::span<const std::byte> data, const deadline& d,
                             std::error_code& ec) noexcept {
    return write_impl(h, data, d, ec);
}

}  // namespace tether
