// The backend contract: every function a platform backend defines, and nothing else. The
// portable code (src/*.cpp) calls only these; a backend (src/unix + src/linux, src/windows)
// defines exactly these and may not add to the public API. A new backend owes one definition of
// each declaration below — diff this file, not the link errors.
//
// Sections: 1 handles, 2 pipes and I/O (and terminals), 3 processes (launch, wait, signal, tree, reap),
// 4 channel transport, 5 reactor (the poller's readiness source), 6 OS facts, 7 holders.
// Types a section needs are declared with it. Names are shared by every backend; a backend's
// own helpers live in its folder (src/<backend>/*.hpp) and never reach the portable code.
#pragma once

#include <tether/handle.hpp>
#include <tether/holders.hpp>
#include <tether/spawn.hpp>
#include <tether/terminal.hpp>

#include "detail/deadline.hpp"
#include "detail/poll_source.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tether::detail {

// ==== 1. Handles ===========================================================================
//
// (src/handle_common.cpp). unique_handle, borrowed_handle::duplicate, is_inheritable and
// last_os_error are portable; the backend only makes the one system call each needs.

/// Closes `h` (a valid handle); errors are not reported. Never retried, whatever it says:
/// Linux releases the descriptor even when close() reports EINTR, and a second close could
/// close a number another thread has just been given; Windows may already have given the value
/// to someone else. Blocks only as long as the system's close does.
void handle_close(native_handle h) noexcept;

/// A second handle to the kernel object behind `h`, non-inheritable from birth (POSIX
/// F_DUPFD_CLOEXEC; Windows DuplicateHandle with bInheritHandle=FALSE), never fixed up after.
/// Does not block. On failure sets `ec` to the OS error (Windows: ERROR_INVALID_HANDLE for an
/// invalid value, which DuplicateHandle would take for our own process) and returns
/// invalid_native_handle(); on success leaves `ec` alone.
native_handle handle_duplicate(native_handle h, std::error_code& ec) noexcept;

/// Whether a child process may inherit `h` (FD_CLOEXEC clear / HANDLE_FLAG_INHERIT set). Does
/// not block. Sets `ec` (the OS error) if `h` is not open; on success leaves `ec` alone.
bool handle_inheritable(native_handle h, std::error_code& ec) noexcept;

/// The error of the calling thread's last failed system call (errno / GetLastError()), in
/// std::system_category(). Read it before any other call that may change it.
std::error_code last_system_error() noexcept;

// ==== 2. Pipes and I/O ======================================================================
//
// (src/pipe_common.cpp, src/io_common.cpp). make_pipe, pipe_server, pipe_client, the checks of
// handle strings and every read/write/forward overload are portable; the backend creates pipes,
// answers questions about them and moves bytes.

/// A new pipe, both ends non-inheritable from birth. `ours` is the end for direction `d` (the
/// read end for direction::in, the write end for direction::out), `theirs` the other.
/// `capacity` is advisory (0: the system's default, 64 KiB); a size the system refuses leaves
/// the default, which is no error. Does not block. On failure sets `ec`, names the step that
/// failed in `what` ("pipe2"; "create a new pipe: ...") and returns empty ends.
pipe_pair pipe_create(direction d, std::size_t capacity, std::error_code& ec, std::string& what);

/// The capacity in bytes of the pipe `h` is an end of (Linux F_GETPIPE_SZ; Windows the larger
/// of its buffers). 0 with `ec` set if `h` is no pipe end; `ec` cleared otherwise.
std::size_t pipe_query_capacity(native_handle h, std::error_code& ec) noexcept;

/// Whether `h` (a value parsed from a handle string) is an open pipe end that direction `d` can
/// use: errc::invalid_handle_string if it is not open, errc::not_a_pipe, errc::wrong_direction
/// (an end that can only write for direction::in, or only read for direction::out); clear if
/// usable. Where the system cannot say an end's direction, it is not refused.
std::error_code pipe_check_end(native_handle h, direction d) noexcept;

/// Whether the other end of the pipe (or socket) `h` is an end of is still open in some process:
/// false once every copy of it is closed, also while data waits to be read (the read will reach
/// end-of-file). Linux: poll() reports POLLHUP or POLLERR; Windows: the pipe is in
/// FILE_PIPE_CLOSING_STATE. True when the system cannot say. Never blocks. The tied reads ask it
/// before they call a pipe held open.
bool pipe_peer_open(native_handle h) noexcept;

/// Why `handle_string` is no pipe end (for errc::invalid_handle_string or errc::not_a_pipe from
/// check_pipe_handle_string), as the end of a message: ": descriptor 7 is not open",
/// ": descriptor is a regular file". Empty for other errors.
std::string why_not_a_pipe(std::error_code ec, std::string_view handle_string);

// Byte I/O on any handle (pipe end, socket, file). One hook per operation, each taking its
// deadline, rather than a non-blocking try plus a wait for readiness: Windows cannot wait for a
// synchronous pipe handle (a child's end, CreatePipe's, .NET's) to become readable or writable,
// so its timed calls start the transfer and cancel it at the deadline; and a blocking POSIX
// read without a deadline is one read(), where a try plus a wait would add a poll() to every
// call. The portable layer handles empty buffers (never a zero-byte write, no call at all) and
// throws; each hook clears `ec` on success. Everywhere: 0 bytes with `ec` clear is
// end-of-file (Windows ERROR_BROKEN_PIPE / ERROR_HANDLE_EOF; a socket whose peer vanished);
// a write whose reader is gone is errc::peer_gone, never a SIGPIPE death (Windows
// ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED); a read on an end that can only
// write is errc::wrong_direction (POSIX: a write on an end that can only read, too).

/// Reads up to buf.size() (> 0) bytes: blocks until at least one byte or end-of-file, or until
/// `d` passes (errc::timed_out, nothing consumed). A peer's zero-byte write on a Windows pipe
/// is not end-of-file: the read waits on.
std::size_t io_read(native_handle h, std::span<std::byte> buf, const deadline& d, std::error_code& ec) noexcept;

/// Reads what is there now (up to buf.size() > 0 bytes), never blocking: errc::would_block if
/// nothing is; end-of-file as io_read. Works on a descriptor in blocking mode without changing
/// its flags (they belong to the open file description, which a child may share).
std::size_t io_try_read(native_handle h, std::span<std::byte> buf, std::error_code& ec) noexcept;

/// Writes all of `data` (non-empty), retrying short writes: blocks until every byte is taken
/// or until `d` passes (errc::timed_out). With a deadline the bytes go in pieces of at most
/// 4 KiB (PIPE_BUF) where the system could otherwise report no progress for a write that
/// timed out (Windows, a POSIX descriptor in blocking mode).
/// @returns the bytes written, all of them when `ec` is clear, and those before an error.
std::size_t io_write(native_handle h, std::span<const std::byte> data, const deadline& d, std::error_code& ec) noexcept;

/// Writes what fits now of `data` (non-empty), never blocking: errc::would_block if nothing
/// does. On an end in blocking mode at most 4 KiB (POSIX: PIPE_BUF once poll() says there is
/// room; Windows, which cannot ask a pipe for its room: one such write, cancelled at once if it
/// does not complete).
std::size_t io_try_write(native_handle h, std::span<const std::byte> data, std::error_code& ec) noexcept;

/// forward(): moves everything from `from` to `to` until end-of-file on `from`, blocking, the
/// bytes bypassing our memory where the system allows (Linux: splice(2), and
/// forward_options::batch_scheduling), else through a buffer (detail/forward.hpp's
/// copy_to_end, which a backend may call). @returns the bytes moved, also on error.
std::uint64_t io_forward(native_handle from, native_handle to, const forward_options& opt, std::error_code& ec) noexcept;

/// ignore_sigpipe(): POSIX sets SIGPIPE to SIG_IGN for the process, so later writes skip
/// their per-write signal guard; on failure names the call in `what`. Windows has no SIGPIPE:
/// nothing to do. Never blocks.
std::error_code io_ignore_sigpipe(std::string& what);

// ---- Terminals (stdio::terminal(); the public class tether::terminal is src/terminal.cpp's).
//
// A terminal is made by the backend's own launch, because what the child gets of it is the
// system's business: Linux a pseudo-terminal (our side the master; the child's side the slave,
// its controlling terminal in a new session: setsid + TIOCSCTTY between clone and exec);
// Windows a pseudo console (HPCON) with an input and an output pipe, given to the child by
// PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE. launched::terminal carries our side to the
// child object. Every hook is for a terminal that terminal_create made; none throws.
//
//   Linux (src/linux/terminal.cpp): posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK),
//     the slave by TIOCGPTPEER (close-on-exec from birth), TIOCSWINSZ / TIOCGWINSZ; close: the
//     master.
//   Windows (src/windows/terminal.cpp over windows/pseudo_console.hpp): CreatePseudoConsole on
//     named pipes whose server ends are ours; a relay thread fills the user's output pipe and
//     drains the console while ClosePseudoConsole runs (it blocks until the console's last
//     output is read), so terminal_close never hangs; the session ends with the child's exit.

/// Our side of one terminal, and anything the backend keeps with it (Linux: the slave too,
/// until the launch has given it to the child). Defined by the backend.
struct terminal_endpoint;
struct terminal_endpoint_deleter {
    /// terminal_close, then frees the endpoint.
    void operator()(terminal_endpoint* t) const noexcept;
};
using terminal_ptr = std::unique_ptr<terminal_endpoint, terminal_endpoint_deleter>;

/// A new terminal of `size` (both in 1..65535: validate_spawn_options checked), every handle
/// of it non-inheritable from birth. Called by the backend's launch for a spawn that asks for
/// one. On failure null, `ec` set and `what` naming the step or the input ("posix_openpt";
/// Windows: a dimension over 32767, or no pseudo console before Windows 10 1809).
terminal_ptr terminal_create(terminal_size size, std::error_code& ec, std::string& what);

/// Where the parent writes the child's input (Linux: the master).
borrowed_handle terminal_input(const terminal_endpoint& t) noexcept;
/// Where the parent reads the child's output (Linux: the master too).
borrowed_handle terminal_output(const terminal_endpoint& t) noexcept;

/// Sets the size (Linux TIOCSWINSZ: the foreground group gets SIGWINCH). `size` was checked.
std::error_code terminal_resize(terminal_endpoint& t, terminal_size size) noexcept;

/// The current size (Linux TIOCGWINSZ), which the child may have changed.
std::error_code terminal_get_size(const terminal_endpoint& t, terminal_size& size) noexcept;

/// Closes our side, in the order the system needs (Windows: the console is closed while its
/// output is drained). Idempotent: a closed endpoint's handles are empty.
void terminal_close(terminal_endpoint& t) noexcept;

// ==== 3. Processes =========================================================================
//
// spawn() is driven once, by portable code (src/spawn.cpp): validate the options, ask the backend
// for the child-side value of every passed handle (launch_prepare), substitute those values into
// argv, build the manifest and the variables spawn adds, have the backend start the child
// (launch), close the parent's copies of what the child received, and build the child object. The
// backend only places handles and starts the process. After that, the portable `child` drives
// the process through the process_* hooks: a process is its id plus the backend's handle on it
// (pidfd / process HANDLE; may be empty, e.g. Linux without pidfd_open).

/// One passed handle: its value in the parent and the value it will have in the child.
struct handle_mapping {
    native_handle parent;
    native_handle child;
};

/// The one plan of a spawn: what the portable code worked out from the options, in the order it
/// does so; the backend reads it to launch.
struct spawn_plan {
    explicit spawn_plan(spawn_options& o) noexcept : opt(o) {}
    spawn_options& opt;                   ///< validated; still owns every handle to pass
    std::vector<handle_mapping> handles;  ///< per passed handle, in pass order (launch_prepare)
    std::int64_t parent_id{0};            ///< the id the child sees as its parent's (launch_prepare)
    std::vector<std::string> argv;        ///< opt.argv with handle_arg() placeholders replaced
    std::string manifest;                 ///< the manifest's text; empty if no handle is named
    /// The "NAME=value" strings the child gets after the inherited environment (env_set minus
    /// env_unset, the manifest, socket activation's variables). The backend adds the inherited
    /// ones it does not drop (inherited_variable_dropped) and anything only it can know.
    std::vector<std::string> env_added;
};

/// What a backend keeps between launch_prepare and launch (Windows: the handles it placed in
/// the vault; Linux: the descriptors it opened). Defined by the backend.
struct launch_state;
struct launch_state_deleter {
    void operator()(launch_state* s) const noexcept;
};
using launch_state_ptr = std::unique_ptr<launch_state, launch_state_deleter>;

/// What a successful launch gives the portable code.
struct launched {
    std::int64_t pid{-1};
    unique_handle process;                 ///< empty for a detached child (not ours to wait for)
    unique_handle parent_stdio[3];         ///< our ends of the stdio::pipe() streams
    std::shared_ptr<process_tree> tree;    ///< a group, cgroup or job of its own; may be null
    terminal_ptr terminal;                 ///< our side of the stdio::terminal() streams, if any
};

/// Step one of a launch: sets plan.handles (each passed handle's child value) and
/// plan.parent_id, doing what giving those values takes (Windows: copies into the vault), and
/// any check the backend can make before the environment exists. On failure: null, `ec` and
/// `what` (a sentence naming the bad input); every handle stays in plan.opt.
launch_state_ptr launch_prepare(spawn_plan& plan, std::error_code& ec, std::string& what);

/// Step two: starts the child exactly as the plan says (stdio, the passed handles and nothing
/// else, the environment, the working directory, its group or job). Never closes a handle in
/// plan.opt: on success the portable code does. On failure the child is gone (reaped), `what`
/// names the step, and every temporary the backend made is closed.
std::error_code launch(spawn_plan& plan, launch_state& state, launched& out, std::string& what);

/// Waits for the process to end until `d` (deadline::now(): one look; never: no limit) and
/// reaps it. nullopt with `ec` clear: still running at `d`. Once reaped the backend may close
/// `process` (POSIX: a pidfd of a reaped child is no use).
std::optional<exit_status> process_wait(std::int64_t pid, unique_handle& process, const deadline& d,
                                        std::error_code& ec) noexcept;

/// Ends the process: `hard` as SIGKILL / TerminateProcess, else as SIGTERM (Windows: the same
/// TerminateProcess). A process that has already ended (unreaped) is no error.
std::error_code process_end(std::int64_t pid, const unique_handle& process, bool hard) noexcept;

/// Sends POSIX signal `sig`; a process that has already ended is no error. errc::not_supported
/// where the system has no signals.
std::error_code process_signal(std::int64_t pid, const unique_handle& process, int sig) noexcept;

/// Ends (`hard`) or asks to end every process of the child's tree. `reaped`: the child itself
/// was waited for (POSIX: its id, the group's id, may be reused; only the cgroup is safe then).
std::error_code tree_end(process_tree& tree, std::int64_t pid, bool reaped, bool hard) noexcept;

/// A child object goes away without its child's status: keep what it takes to reap it later
/// (POSIX: a zombie must be reaped; reap_abandoned does it). Windows has no zombies: closes.
void process_abandon(std::int64_t pid, unique_handle process) noexcept;

/// reap_detached(): reaps the abandoned children that have ended and finishes the cleanup of
/// trees that could not be removed yet; returns how many children are still waiting.
std::size_t reap_abandoned() noexcept;

/// A handle of its own on the running process `pid`, for an event loop of the caller's
/// (Linux: a new pidfd, not a dup, so its flags are the caller's; Windows: a duplicate).
unique_handle process_open_handle(std::int64_t pid, borrowed_handle process, std::error_code& ec) noexcept;

/// The name of a signal for messages ("SIGKILL"); empty if unknown.
std::string signal_name(int sig);

// ==== 4. Channel transport ===================================================================
//
// portable channel (src/channel.cpp, src/channel_state.cpp, src/channel_source.cpp). Same
// names in both backends; the portable side (with the I/O-free engine, channel_engine.hpp) owns the framing,
// buffering, goodbye/vanished logic and validation, the backend only moves bytes and handles
// between two processes. Every I/O hook is NON-BLOCKING; channel_wait() is the only call that
// waits, so the blocking and timed channel calls are loops over the same pieces a poller uses.
//
// How handles travel. The portable layer puts a handle table in each frame (see frame.hpp):
// one 64-bit wire value per handle. Sending: channel_export_handles() turns the caller's
// handles into wire values plus a list of handles to send "out of band" with the bytes;
// channel_write_some() sends bytes and out-of-band handles together. Receiving: channel_read_some()
// delivers bytes and appends any out-of-band handles to a queue (owned at once);
// channel_import_handles() turns one frame's wire values (and queued handles) into owned
// handles for the message.
//
//   Linux: out of band = SCM_RIGHTS on an AF_UNIX stream socket; wire values are 0;
//          import pops handle_count descriptors from the queue.
//   Windows: one duplex named pipe; only the end that made the channel (the pipe's server)
//          duplicates across processes. Its export pushes each handle into the peer and sends
//          the peer's value (the local copy waits in the out-of-band list until the frame is
//          written); its import pulls the peer's values with DUPLICATE_CLOSE_SOURCE. The
//          client's export sends its own values (released, not closed, once written) and its
//          import wraps the values pushed to it. See src/windows/channel_handles.cpp.

/// One end of a channel as the backend sees it: the OS object plus anything else the backend
/// needs (on Windows perhaps the peer's process handle). Defined by the backend.
struct channel_endpoint;
struct channel_endpoint_deleter {
    void operator()(channel_endpoint* e) const noexcept;
};
using endpoint_ptr = std::unique_ptr<channel_endpoint, channel_endpoint_deleter>;


/// A connected pair. `ours` becomes an endpoint; `theirs` is the raw handle to pass to a child.
/// Neither is inheritable. On failure `what` names the step that failed.
std::error_code channel_make_pair(endpoint_ptr& ours, unique_handle& theirs, std::string& what);

/// Makes an endpoint of a handle received from a parent (or given by the user). Validates it
/// first (Linux: an AF_UNIX stream socket); on failure `what` says why and `h` is closed.
endpoint_ptr channel_open(unique_handle&& h, std::error_code& ec, std::string& what);

/// The OS object behind the endpoint (for polling, diagnostics).
borrowed_handle channel_native(const channel_endpoint& e) noexcept;

/// Prepares `handles` (consumed) for one frame when it is queued: appends one wire value per
/// handle to `wire` (a placeholder where channel_push_handles fills it in) and the handles that
/// must travel with the bytes to `out_of_band`. Fails if the peer cannot receive handles.
std::error_code channel_export_handles(channel_endpoint& e, std::vector<unique_handle>& handles,
                                       std::vector<std::uint64_t>& wire, std::vector<unique_handle>& out_of_band);

/// Gives exported handles to the peer right before the first write that carries their frame,
/// never earlier, so a frame that is never written never put a handle into the peer (a peer
/// can copy a handle inside its own table faster than we could take it back). Windows server:
/// duplicates each into the peer and sets its wire value (on failure, what it pushed is taken
/// back and `wire` is left as it was). Elsewhere nothing to do.
std::error_code channel_push_handles(channel_endpoint& e, std::span<const unique_handle> out_of_band,
                                     std::span<std::uint64_t> wire);

/// Handles exported for frames that will never be written (the channel is closing, or a
/// write failed): Windows takes the copies it pushed into the peer back out of it (the peer
/// never saw their values, so nobody else owns them); POSIX just closes ours. `pushed` are the
/// wire values channel_push_handles gave (0: none). Never throws.
void channel_unexport(channel_endpoint& e, std::span<const std::uint64_t> pushed,
                      std::vector<unique_handle>& out_of_band) noexcept;

/// Most out-of-band handles one channel_write_some may carry (Linux: SCM_MAX_FD = 253).
std::size_t channel_max_out_of_band() noexcept;

/// The most parts one channel_write_some takes (the portable layer uses up to 3).
inline constexpr std::size_t max_write_parts = 4;

/// Writes what the OS takes NOW of `parts` (at most max_write_parts, in order), never
/// blocking. The `out_of_band` handles go with the first byte written and are consumed once
/// any byte is (closed: the kernel or the peer holds its own reference in flight; a Windows
/// client releases them for the server to pull).
/// With no parts it only collects a finished write (Windows), so a caller can wait for the end
/// of the write in flight before it gives the peer handles.
/// @returns the bytes taken; 0 with errc::would_block if none could be; errc::peer_gone if the
///          peer is gone, else the OS error.
std::size_t channel_write_some(channel_endpoint& e, std::span<const std::span<const std::byte>> parts,
                               std::vector<unique_handle>& out_of_band, std::error_code& ec);

/// True while bytes that channel_write_some took are still on their way (Windows: an
/// overlapped write from the endpoint's own buffer is pending). POSIX: always false.
bool channel_writing(const channel_endpoint& e) noexcept;

/// Reads what is there NOW into `buf`, never blocking: errc::would_block if nothing; 0 with
/// `ec` clear at end-of-file (a peer that vanished with unread data counts as end-of-file).
/// Handles that arrive are wrapped at once and appended to `arrived`. A truncated control
/// message (more handles than fit) closes those that did arrive and is errc::protocol_error.
std::size_t channel_read_some(channel_endpoint& e, std::span<std::byte> buf, std::deque<unique_handle>& arrived,
                              std::error_code& ec);

/// Blocks until a read (`want_read`) or a write (`want_write`) can make progress, or
/// `deadline` passes (errc::timed_out). Ready includes end-of-file and errors: the next
/// read_some / write_some says which.
std::error_code channel_wait(channel_endpoint& e, bool want_read, bool want_write, const deadline& d);

/// Prepares the endpoint to be waited on by a poller (Windows: starts the overlapped read if
/// none is pending) and says what to watch (flags from section 5). POSIX: the
/// socket, for watch_read (and watch_write while output is queued). Windows: the event of the
/// endpoint's pending overlapped read (watch_object) and, while a write is in flight, the event
/// of that write.
source_watch channel_arm(channel_endpoint& e, bool want_write) noexcept;

/// Turns one frame's wire values into owned handles, appended to `out`. Linux: takes
/// wire.size() handles from the front of `arrived`; fewer than that is errc::protocol_error.
std::error_code channel_import_handles(channel_endpoint& e, std::span<const std::uint64_t> wire,
                                       std::deque<unique_handle>& arrived, std::vector<unique_handle>& out);

// ==== 5. Reactor ===========================================================================
//
// (src/poller*.cpp, the one wait in src/poller_wait.cpp). Same names in both backends.
//
//   Linux (src/linux/poller.cpp): epoll, level-triggered, over descriptors and pidfds.
//   Windows (src/windows/poller.cpp): an I/O completion port; every watch is a thread-pool wait
//     (RegisterWaitForSingleObject) whose callback posts a packet to the port — for a process,
//     for an event (a channel's pending overlapped read or write), or for a pipe end, whose
//     readability the reactor learns from a zero-byte overlapped read of its own.
//
// Keys: the portable layer gives every watch a 64-bit key (slot, generation, sub-watch) and
// drops ready keys whose generation is stale, so a packet queued before a removal never
// reaches a source that reused the slot.

struct reactor;
struct reactor_deleter {
    void operator()(reactor* r) const noexcept;
};
using reactor_ptr = std::unique_ptr<reactor, reactor_deleter>;

/// What to watch a handle for.
enum watch_flags : unsigned {
    watch_read = 1,     ///< a pipe end or socket: readable, end-of-file, hung up
    watch_write = 2,    ///< a pipe end or socket: room to write, or the reader gone
    watch_process = 4,  ///< a process (pidfd / process HANDLE): it ended (reported once)
    watch_object = 8,   ///< a waitable object (Windows event): signalled (reported once per watch)
};

/// What a ready watch reports.
enum ready_flags : unsigned {
    ready_read = 1,
    ready_write = 2,
    ready_hangup = 4,  ///< the other end is closed
    ready_error = 8,
    ready_signalled = 16,  ///< watch_process / watch_object
};

struct reactor_ready {
    std::uint64_t key;
    unsigned events;
};

reactor_ptr reactor_create(std::error_code& ec);

/// Starts watching `h` under `key` for `what`, or (`modify`) changes what an existing watch of
/// `h` looks for. A watch_object / watch_process watch fires once: watch it again to re-arm.
std::error_code reactor_watch(reactor& r, std::uint64_t key, native_handle h, unsigned what, bool modify);

/// Stops watching `h` (registered under `key`). Once it returns no new readiness for this watch
/// is produced (one already queued may still arrive: the key's generation filters it).
void reactor_unwatch(reactor& r, std::uint64_t key, native_handle h) noexcept;

/// Whether the process behind `process` (a pidfd / process HANDLE) has ended, without reaping
/// it or disturbing a watch on it: lets the portable layer leave watches alone until a reap
/// will succeed. False when it cannot tell.
bool reactor_process_ended(native_handle process) noexcept;

/// Waits until some watch is ready or `d` passes; appends what is ready to `out`. A timeout is
/// no error (out stays empty).
std::error_code reactor_wait(reactor& r, const deadline& d, std::vector<reactor_ready>& out);

// ==== 6. OS facts ==========================================================================

/// A variable of our environment (UTF-8), or nullopt.
std::optional<std::string> get_environment_variable(std::string_view name);
/// Removes a variable from our environment (no effect if it is not set).
void unset_environment_variable(std::string_view name);
/// Our whole environment as "NAME=value" (UTF-8).
std::vector<std::string> current_environment();
std::int64_t current_pid() noexcept;
/// The absolute path of the running program, UTF-8 (Linux: /proc/self/exe; Windows:
/// GetModuleFileNameW). On failure sets `ec`, names the call in `what` and returns "".
std::string executable_path(std::error_code& ec, std::string& what);
/// The id of the process that created us (POSIX getppid; Windows: from the process table).
std::int64_t parent_pid() noexcept;
/// Takes over a handle this process inherited: checks that it is open, then makes it
/// non-inheritable so that our own children (the parent's grandchildren) never keep it —
/// the third way a pipe end leaks. Clear on success.
std::error_code adopt_inherited(native_handle h) noexcept;
/// What kernel object `h` refers to, as text of hex digits and dots (POSIX: device and inode;
/// Windows: the volume and file id of a disk file, else a hash of the object's name), so a
/// child can tell that a number in its manifest still names the object the parent passed.
/// Empty if `h` is not open or (Windows) its object has neither a file id nor a name.
std::string handle_identity(native_handle h);
/// True where environment variable names compare case-insensitively (Windows).
bool environment_names_fold_case() noexcept;

/// True where handles are numbered descriptors a parent can place (POSIX): pass_at() and
/// systemd's socket activation exist there and nowhere else.
bool has_descriptor_numbers() noexcept;

/// "descriptor 5" / "handle 68": how error messages name a handle.
std::string describe_handle(native_handle h);

// ==== 7. Holders ===========================================================================
//
// Behind tether::holders() and tether::open_handle_count() (include/tether/holders.hpp), whose
// public definitions are portable (src/holders_common.cpp). The backend only gathers facts;
// the portable side then sorts the report and writes every verdict (finish_holders_report in
// detail/holders.hpp), so a backend never words a sentence.
//
//   Linux (src/linux/holders*.cpp): /proc/PID/fd (which object), /proc/PID/fdinfo (which end),
//     /proc/PID/net/unix and sock_diag (Unix sockets and their peers), /proc/PID/stat (parents).
//   Windows (src/windows/holders*.cpp): the system handle table, duplicates compared with
//     CompareObjectHandles, the pipe's name for its other end, a Toolhelp32 snapshot (parents);
//     every per-handle query bounded in time.

/// The facts for holders(pid) (`handle` empty) or holders(pid, *handle), unsorted and without
/// verdicts: report.pid and report.command; one held_object per pipe end (and, where the OS
/// has them, Unix socket) of `pid` — or only the one behind `handle` — with all of `pid`'s
/// copies of it grouped into `handles` (`handle` the lowest), every other holder on the machine
/// in `others` (its relation from the parent chains) and, for a socket, its peer's holders in
/// `peer_holders`; and every process that could not be inspected in `not_inspected`, never
/// skipped silently. `handle` is a value as the OS numbers them (a descriptor, a HANDLE's
/// integer value); the backend decides which values are possible.
/// @throws std::system_error whose message starts "holders(PID)" or "holders(PID, HANDLE)":
///         std::errc::no_such_process (no such PID), std::errc::permission_denied (`pid` may
///         not be inspected), std::errc::bad_file_descriptor (`handle` is no possible value, or
///         not open in `pid`), errc::not_a_pipe (`handle` is open but no pipe or socket: the
///         message says what it is), errc::not_supported (the OS tells nothing, e.g. no /proc).
holders_report holders_collect(std::int64_t pid, std::optional<std::int64_t> handle);

/// How many handles, in every process, refer to the kernel object behind `h` (`h` itself
/// included), as the kernel counts them (Windows: NtQueryObject's HandleCount). std::nullopt
/// where the OS keeps no such count for callers (Linux) or the query fails. Never throws.
std::optional<std::size_t> holders_open_handle_count(borrowed_handle h) noexcept;

}  // namespace tether::detail
