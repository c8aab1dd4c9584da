// Windows backend: a pseudo console's relay thread and the session's end (pseudo_console.hpp
// says why a relay, and in which order the session ends).
//
// What the session's end reads into memory (`pending`) is finite, conhost is ending, but not
// bounded by us: an allocation that fails there ends the process (the relay is noexcept), as
// it would anywhere else in a thread of ours.
//
// Every handle the relay does I/O on is overlapped, so that it can wait for a read or a write
// beside the events that end the session (the watched child's exit, the owner's close()) and
// never sits in a call nobody can interrupt.
#include "windows/pseudo_console.hpp"

#include <tether/error.hpp>

#include <algorithm>
#include <memory>
#include <vector>

namespace tether::detail {
namespace {

constexpr DWORD chunk = 65536;

// One overlapped read or write at a time, with an event of its own to wait on.
class overlapped_op {
public:
    overlapped_op() noexcept { ov_.hEvent = ::CreateEventW(nullptr, TRUE, FALSE, nullptr); }
    overlapped_op(const overlapped_op&) = delete;
    overlapped_op& operator=(const overlapped_op&) = delete;
    ~overlapped_op() {
        DWORD n = 0;
        if (pending_) cancel(n);  // the buffer must not be freed under a call in flight
        if (ov_.hEvent != nullptr) ::CloseHandle(ov_.hEvent);
    }
    [[nodiscard]] bool usable() const noexcept { return ov_.hEvent != nullptr; }
    [[nodiscard]] bool pending() const noexcept { return pending_; }
    [[nodiscard]] HANDLE event() const noexcept { return ov_.hEvent; }

    /// Starts a read into (or a write from) `buf`: 0 if under way or done (the event is set
    /// either way), else the error.
    DWORD start(HANDLE h, void* buf, DWORD size, bool write) noexcept {
        handle_ = h;
        ov_.Offset = ov_.OffsetHigh = 0;
        BOOL ok = write ? ::WriteFile(h, buf, size, nullptr, &ov_) : ::ReadFile(h, buf, size, nullptr, &ov_);
        if (!ok && ::GetLastError() != ERROR_IO_PENDING) return ::GetLastError();
        pending_ = true;
        return 0;
    }
    /// The result once the event is set (or after a cancel): 0 or the error; the bytes in `n`.
    DWORD finish(DWORD& n) noexcept {
        pending_ = false;
        n = 0;
        return ::GetOverlappedResult(handle_, &ov_, &n, TRUE) ? 0 : ::GetLastError();
    }
    /// Cancels the call in flight: the bytes it moved before (a read that completed first).
    DWORD cancel(DWORD& n) noexcept {
        ::CancelIoEx(handle_, &ov_);
        return finish(n);
    }

private:
    OVERLAPPED ov_{};
    HANDLE handle_{nullptr};
    bool pending_{false};
};

}  // namespace

// What the relay reads into and writes from; the buffers outlive any call in flight.
struct pseudo_console::relay_io {
    overlapped_op read, write;
    std::vector<char> read_buf = std::vector<char>(chunk);
    std::string write_buf;  // the part of a chunk the user's pipe has not taken yet
    DWORD written{0};
};

// Waits for `op_event`: true once it is set; false if the session must end first (close(),
// or, with `watch_child`, the watched child's exit). The reasons to end come first in the
// wait, so a console that never stops writing cannot hide them.
bool pseudo_console::wait_or_end(HANDLE op_event, bool watch_child) noexcept {
    for (;;) {
        // Before waiting: control_ is auto-reset, and an earlier wait may have taken close()'s.
        if (stopping_) return false;
        HANDLE events[3] = {control_.get(), nullptr, nullptr};
        DWORD count = 1;
        if (watch_child) {
            std::lock_guard lock(mutex_);  // process_ is set once by watch(), reset after the join
            if (process_) events[count++] = process_.get();
        }
        events[count++] = op_event;
        DWORD w = ::WaitForMultipleObjects(count, events, FALSE, INFINITE);
        if (w == WAIT_OBJECT_0 + count - 1) return true;
        // A failed wait ends the session rather than spin; control_ may only mean "watch()".
        if (w != WAIT_OBJECT_0) return false;
    }
}

// Writes what is left of io.write_buf to the user: true once all is taken (or the user's read
// end is gone, which drops the output from then on); false if the session must end first, the
// write still in flight.
bool pseudo_console::relay_write(relay_io& io, bool watch_child) noexcept {
    while (!user_gone_ && io.written < io.write_buf.size()) {
        if (!io.write.pending()) {
            DWORD size = static_cast<DWORD>(io.write_buf.size() - io.written);
            if (io.write.start(user_write_.get(), io.write_buf.data() + io.written, size, true) != 0) {
                user_gone_ = true;
                break;
            }
        }
        if (!wait_or_end(io.write.event(), watch_child)) return false;
        DWORD n = 0;
        if (io.write.finish(n) != 0) user_gone_ = true;  // the user closed the read end
        io.written += n;
    }
    return true;
}

// The session's running part: console output to the user, at the user's pace. Returns when
// the session must end (with a read or a write possibly in flight) or the console's output
// pipe broke (conhost gone).
void pseudo_console::relay_running(relay_io& io) noexcept {
    for (;;) {
        if (!io.read.pending() && io.read.start(console_out_.get(), io.read_buf.data(), chunk, false) != 0) return;
        if (!wait_or_end(io.read.event(), true)) return;
        DWORD n = 0;
        if (io.read.finish(n) != 0) return;
        io.write_buf.assign(io.read_buf.data(), n);
        io.written = 0;
        if (!relay_write(io, true)) return;
    }
}

// Reads the console's output into `pending` until `closed` (ClosePseudoConsole returned) is set:
// conhost writes its last output while it is being closed, and blocks until that is read.
void pseudo_console::drain_until(relay_io& io, HANDLE closed, std::string& pending) noexcept {
    for (;;) {
        if (!io.read.pending() && io.read.start(console_out_.get(), io.read_buf.data(), chunk, false) != 0) {
            ::WaitForSingleObject(closed, INFINITE);  // the pipe broke: nothing more to drain
            return;
        }
        HANDLE events[2] = {io.read.event(), closed};
        DWORD w = ::WaitForMultipleObjects(2, events, FALSE, INFINITE);
        DWORD n = 0;
        DWORD err = w == WAIT_OBJECT_0 ? io.read.finish(n) : io.read.cancel(n);
        pending.append(io.read_buf.data(), err == 0 ? n : 0);
        if (w != WAIT_OBJECT_0) return;
        if (err != 0) {
            ::WaitForSingleObject(closed, INFINITE);
            return;
        }
    }
}

// What conhost wrote before it exited and nobody has read yet: read until the pipe is empty.
// Not until end-of-file: a copy of the client end that leaked into a stranger would hold that
// off for as long as the stranger lives.
void pseudo_console::drain_rest(relay_io& io, std::string& pending) noexcept {
    for (;;) {
        DWORD avail = 0;
        if (!::PeekNamedPipe(console_out_.get(), nullptr, 0, nullptr, &avail, nullptr) || avail == 0) return;
        if (io.read.start(console_out_.get(), io.read_buf.data(), std::min(avail, chunk), false) != 0) return;
        DWORD n = 0;
        if (io.read.finish(n) != 0) return;
        pending.append(io.read_buf.data(), n);
    }
}

// ClosePseudoConsole on a thread of its own while this one drains, then the rest, then every
// client end is cut. Closing the console ends the processes still attached to it.
void pseudo_console::end_session(relay_io& io, std::string& pending) noexcept {
    console_handle console = take_console();
    unique_handle closed(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    std::thread closer;
    if (console != nullptr && closed) {
        try {
            closer = std::thread([console, event = closed.get()] {
                console_api()->close(console);
                ::SetEvent(event);
            });
        } catch (const std::system_error&) {
            closer = std::thread();
        }
    }
    if (closer.joinable()) {
        drain_until(io, closed.get(), pending);
        closer.join();
    } else if (console != nullptr) {
        console_api()->close(console);  // no second thread: may wait for a reader (see above)
    }
    drain_rest(io, pending);
    // Forces every client end closed, leaked copies included (DisconnectNamedPipe): conhost's
    // are gone already; a stranger's now reads end-of-file, and the user's input writes fail.
    ::DisconnectNamedPipe(console_out_.get());
    ::DisconnectNamedPipe(input_.get());
    ::SetEvent(ended_.get());
}

// After the session: the chunk in flight, then `pending`, at the user's pace; close() drops it.
void pseudo_console::deliver(relay_io& io, std::string& pending) noexcept {
    if (!relay_write(io, false)) return;
    io.write_buf = std::move(pending);
    io.written = 0;
    relay_write(io, false);
}

void pseudo_console::relay_main(relay_io& io) noexcept {
    std::string pending;
    relay_running(io);
    end_session(io, pending);
    deliver(io, pending);
    DWORD n = 0;
    if (io.write.pending()) io.write.cancel(n);  // close() came first: the rest is dropped
    user_write_.reset();  // the user's read: end-of-file after every byte
}

std::error_code pseudo_console::start_relay(std::string& what) {
    auto io = std::make_unique<relay_io>();
    if (!io->read.usable() || !io->write.usable()) {
        what = "CreateEventW for the pseudo console's relay";
        return last_os_error();
    }
    try {
        relay_ = std::thread([this, io = std::move(io)] { relay_main(*io); });
    } catch (const std::system_error& e) {
        what = "start the pseudo console's relay thread";
        return e.code();
    }
    return {};
}

}  // namespace tether::detail
