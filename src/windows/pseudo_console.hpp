// Internal, Windows only: a pseudo console (ConPTY) with its pipes and the relay that keeps its
// close order, the engine of stdio::terminal() on Windows (src/windows/pseudo_console.cpp,
// console_relay.cpp; the hooks in terminal.cpp; spawn.cpp's launch attaches the child).
//
// The pipes. CreatePseudoConsole gets the CLIENT ends of two named pipe instances
// (pipe_create: owner-only, unguessable names); our ends are the SERVER ends, overlapped and
// never inheritable. CreatePseudoConsole makes inheritable copies of the two client ends for
// the length of the call, and any other thread's CreateProcess(bInheritHandles=TRUE) without a
// handle list takes them into its child: then the console's output pipe would never reach
// end-of-file and input written after the session could vanish into a stranger. The session's
// end therefore never waits for a client end to close: it reads what conhost wrote and cuts
// every client end, leaked copies too, with DisconnectNamedPipe on our server ends.
//
// The relay. The user reads the console's output from a pipe of its own (like make_pipe's: our
// read end overlapped and non-inheritable) that one thread fills from the console's output
// pipe. ClosePseudoConsole blocks until conhost has written its last output (Windows before 11
// 24H2; wine 8 alike), so the console's output must be drained while it runs: the relay always
// drains it, so the close order holds by construction. While the user does not read, the relay
// waits on the user's pipe (backpressure), except at the session's end, when it keeps reading the
// console into memory (conhost is ending: what is left is finite) and delivers that afterwards.
// Input needs no relay: the user writes to our server end of the input pipe, which conhost
// always reads; after the session DisconnectNamedPipe makes those writes fail (errc::peer_gone).
//
// The session ends when the watched child exits or when the owner closes: the relay hands
// ClosePseudoConsole to a thread of its own and drains meanwhile, reads what is left once it
// returned (PeekNamedPipe until empty), disconnects both server ends and closes the user pipe's
// write end: the user's read gets every byte, then end-of-file. Closing the pseudo console ends
// the processes still attached to it (documented: grandchildren on the console die with it).
#pragma once

#include <tether/handle.hpp>
#include <tether/spawn.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <windows.h>

namespace tether::detail {

/// A console's size in character cells; each must be in 1..32767 (COORD holds a SHORT).
struct console_size {
    int cols{80};
    int rows{24};
};

/// errc::invalid_argument, with `what` naming the bad value, unless `s` fits a COORD and neither
/// is 0.
std::error_code check_console_size(console_size s, std::string& what);

/// HPCON. wincon.h declares it (and the functions) only for NTDDI_VERSION >= Windows 10 1809,
/// beyond the Windows tether targets; the functions are looked up at run time anyway.
using console_handle = void*;

/// The PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE that winbase.h hides behind the same version check:
/// ProcThreadAttributePseudoConsole is 22 (0x20016 with PROC_THREAD_ATTRIBUTE_INPUT).
inline constexpr DWORD_PTR pseudoconsole_attribute = ProcThreadAttributeValue(22, FALSE, TRUE, FALSE);

/// kernel32's pseudo console functions, looked up at run time so that tether still loads on
/// Windows before 10 1809, which has none of them.
struct console_functions {
    HRESULT(WINAPI* create)(COORD, HANDLE, HANDLE, DWORD, console_handle*);
    HRESULT(WINAPI* resize)(console_handle, COORD);
    void(WINAPI* close)(console_handle);
};
/// The three functions; null if kernel32 lacks any of them.
const console_functions* console_api() noexcept;

/// One pseudo console, its pipes and its relay thread. Not movable (the relay holds `this`).
/// The owner creates, launches, watches and closes (close() is not called concurrently with
/// itself); native(), input(), output(), size(), resize() and wait_ended() may be called from
/// any thread while the object lives. Without watch() the session lasts until close().
class pseudo_console {
public:
    /// A new pseudo console of `size`, its relay running. On failure null with `ec` set and
    /// `what` naming the input or the step: errc::invalid_argument for a bad size,
    /// errc::not_supported where kernel32 has no CreatePseudoConsole (before Windows 10 1809).
    static std::unique_ptr<pseudo_console> create(console_size size, std::error_code& ec, std::string& what);

    pseudo_console(const pseudo_console&) = delete;
    pseudo_console& operator=(const pseudo_console&) = delete;
    /// close(): ends the session (and the processes still on the console), joins the relay.
    ~pseudo_console();

    /// For PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE; null once the session has ended.
    [[nodiscard]] console_handle native() const noexcept;
    /// Where the user writes the child's input (our overlapped server end).
    [[nodiscard]] borrowed_handle input() const noexcept { return input_.borrow(); }
    /// Where the user reads the child's output: every byte, then end-of-file after the session.
    [[nodiscard]] borrowed_handle output() const noexcept { return user_read_.borrow(); }
    /// The size last set (a console cannot be asked for it).
    [[nodiscard]] console_size size() const noexcept;

    /// ResizePseudoConsole. errc::invalid_argument for a bad size (checked before the call),
    /// errc::not_supported if the system does not implement it (wine 8: E_NOTIMPL), errc::closed
    /// after the session; `what` names the input or the call.
    std::error_code resize(console_size size, std::string& what) noexcept;

    /// The child whose exit ends the session (a copy of `process` is kept). Once only.
    std::error_code watch(HANDLE process, std::string& what) noexcept;

    /// Waits up to `ms` for the session's end (console closed, pipes disconnected).
    [[nodiscard]] bool wait_ended(DWORD ms) const noexcept;

    /// Ends the session if it runs, drops output nobody has read (the user's read end is closed
    /// too), joins the relay. Returns without the user's reading; idempotent.
    void close() noexcept;

private:
    pseudo_console() = default;
    std::error_code open(console_size size, std::string& what);

    // console_relay.cpp: the relay thread and the session's end.
    struct relay_io;
    std::error_code start_relay(std::string& what);
    void relay_main(relay_io& io) noexcept;
    void relay_running(relay_io& io) noexcept;
    bool relay_write(relay_io& io, bool watch_child) noexcept;
    bool wait_or_end(HANDLE op_event, bool watch_child) noexcept;
    void end_session(relay_io& io, std::string& pending) noexcept;
    void drain_until(relay_io& io, HANDLE closed, std::string& pending) noexcept;
    void drain_rest(relay_io& io, std::string& pending) noexcept;
    void deliver(relay_io& io, std::string& pending) noexcept;
    console_handle take_console() noexcept;

    mutable std::mutex mutex_;  // hpc_, size_, process_
    console_handle hpc_{nullptr};
    console_size size_;
    unique_handle process_;     // the watched child (SYNCHRONIZE)
    unique_handle input_;       // server end: the user writes, conhost reads the client end
    unique_handle console_out_; // server end: the relay reads, conhost writes the client end
    unique_handle user_read_;   // the user's output: server end, read
    unique_handle user_write_;  // the relay's end of it: client end, overlapped
    unique_handle control_;     // auto-reset: watch() or close() has news for the relay
    unique_handle ended_;       // manual-reset: the session has ended
    std::atomic<bool> stopping_{false};
    bool user_gone_{false};     // relay only: the user's read end was closed; output is dropped
    std::thread relay_;
};

}  // namespace tether::detail
