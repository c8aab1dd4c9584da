// tether/pipe.hpp — anonymous pipes whose ends are never inheritable, blocking and timed I/O
// with one meaning of end-of-file on every platform, and the .NET-shaped server/client pair.
#pragma once

#include <tether/handle.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace tether {

/// Direction seen from the side that holds the object, as System.IO.Pipes.PipeDirection:
/// `in` = this side reads, `out` = this side writes.
enum class direction { in, out };

/// Both ends of a new pipe; neither is inheritable.
struct pipe_ends {
    unique_handle read;   ///< the end that reads
    unique_handle write;  ///< the end that writes
};

/// Our end and the end meant for a child, as make_pipe(direction) splits them.
struct pipe_pair {
    unique_handle ours;    ///< reads if direction::in, writes if direction::out
    unique_handle theirs;  ///< the other end: pass it to a child with spawn_options::pass
};

/// A new anonymous pipe, both ends close-on-exec (pipe2(O_CLOEXEC) / CreatePipe with
/// non-inheritable handles).
/// @throws std::system_error if the system is out of descriptors.
pipe_ends make_pipe();

/// A new pipe split by role. `d` is our direction: direction::in means we read what the child
/// writes into `theirs`.
pipe_pair make_pipe(direction d);

/// As make_pipe(d), with a capacity of `capacity` bytes (0: the system's default, 64 KiB on
/// Linux). Advisory, as .NET's bufferSize: Linux rounds up to a power-of-two number of pages
/// (F_SETPIPE_SZ) and refuses more than /proc/sys/fs/pipe-max-size to an unprivileged process,
/// which then keeps the default; Windows passes it as the pipe's buffer size. pipe_capacity()
/// says what was granted.
pipe_pair make_pipe(direction d, std::size_t capacity);

/// The capacity of the pipe `h` is an end of, in bytes (F_GETPIPE_SZ; Windows: the buffer size,
/// GetNamedPipeInfo, which answers only through an end with read access: the read end, not the
/// write end, there). 0 with `ec` set if `h` is not a pipe (or, on Windows, is a write end).
std::size_t pipe_capacity(borrowed_handle h, std::error_code& ec) noexcept;

/// The unit of every timeout in tether.
using milliseconds = std::chrono::milliseconds;

// ---- I/O on any handle. End-of-file is a read of 0 bytes on every platform
// (ERROR_BROKEN_PIPE on Windows is end-of-file). A write whose reader is gone is
// errc::peer_gone; SIGPIPE never kills the process, and tether never changes the process-wide
// SIGPIPE disposition unless asked to (ignore_sigpipe()): each write blocks the signal in the
// calling thread and consumes it.

/// Sets SIGPIPE to SIG_IGN for the whole process, as Python, Go, Node.js and Boost.Asio do at
/// startup, so that tether's writes can skip their per-write guard (two pthread_sigmask calls:
/// on a 1-byte round trip through a pipe, a few percent). What tether reports does not change:
/// a write whose reader is gone is errc::peer_gone either way, and spawned children still start
/// with SIGPIPE at its default (spawn resets it). Call it once, early; afterwards leave SIGPIPE
/// ignored: tether does not look again, so a later SIG_DFL would let a write end the process.
/// Windows has no SIGPIPE: there it does nothing.
/// @throws std::system_error if sigaction() fails.
void ignore_sigpipe();

/// Reads up to buf.size() bytes; blocks until at least one byte or end-of-file.
/// @returns the number of bytes read; 0 means end-of-file.
/// @throws std::system_error: errc::wrong_direction for a pipe's write end (the message says
///         so; likewise a write to a read end), or the OS error naming the handle.
std::size_t read(borrowed_handle h, std::span<std::byte> buf);
/// As above, reporting failure in `ec` (and returning 0) instead of throwing.
std::size_t read(borrowed_handle h, std::span<std::byte> buf, std::error_code& ec) noexcept;

/// As read(), but gives up after `timeout` with errc::timed_out (0 bytes consumed).
std::size_t read_for(borrowed_handle h, std::span<std::byte> buf, milliseconds timeout);
/// As above, reporting failure (errc::timed_out included) in `ec` instead of throwing.
std::size_t read_for(borrowed_handle h, std::span<std::byte> buf, milliseconds timeout,
                     std::error_code& ec) noexcept;

/// Writes all of `data` (retrying short writes). Zero-byte writes are never issued.
/// @throws std::system_error with errc::peer_gone if the reader is gone.
void write_all(borrowed_handle h, std::span<const std::byte> data);
/// @returns the bytes written before an error (all of them when ec is clear).
std::size_t write_all(borrowed_handle h, std::span<const std::byte> data, std::error_code& ec) noexcept;

/// As write_all(), but gives up after `timeout`.
/// @throws std::system_error errc::timed_out (the message says how many bytes were written),
///         errc::peer_gone if the reader is gone, or the OS error.
void write_all_for(borrowed_handle h, std::span<const std::byte> data, milliseconds timeout);
/// As write_all(), but gives up after `timeout` with errc::timed_out.
/// @returns the bytes written before the time ran out.
std::size_t write_all_for(borrowed_handle h, std::span<const std::byte> data, milliseconds timeout,
                          std::error_code& ec) noexcept;

/// Non-blocking: reads what is there now (up to buf.size() bytes) without waiting. For an
/// event loop (tether::poller): call it after a readable event.
/// @returns the number of bytes read; 0 with `ec` clear means end-of-file; 0 with
///          errc::would_block means nothing to read yet.
std::size_t try_read(borrowed_handle h, std::span<std::byte> buf, std::error_code& ec) noexcept;

/// Non-blocking: writes what fits now without waiting. POSIX: on a pipe or socket in blocking
/// mode too, without changing its mode (a pipe through a non-blocking open of its own, a
/// socket with MSG_DONTWAIT), so a poller's writable event can be answered with a large
/// write; up to PIPE_BUF bytes are written whole or not at all. Windows: what completes at once
/// (at most 4 KiB per call).
/// @returns the bytes written; 0 with errc::would_block if there is no room, errc::peer_gone
///          if the reader is gone.
std::size_t try_write(borrowed_handle h, std::span<const std::byte> data, std::error_code& ec) noexcept;

/// Moves everything `from` delivers, until its end-of-file, into `to`, without a copy through
/// our memory where the system allows: Linux splice(2) when either handle is a pipe (a child's
/// stdout into a file, a socket or another pipe). Otherwise, and on Windows, a read/write loop.
/// Blocks until end-of-file; a non-blocking handle is waited for, not spun on.
/// @returns the bytes moved (all of them when `ec` is clear). errc::peer_gone if `to`'s reader
///          is gone (no SIGPIPE, as write_all); what was moved before an error is not undone.
std::uint64_t forward(borrowed_handle from, borrowed_handle to, std::error_code& ec) noexcept;
/// As above. @throws std::system_error naming both handles.
std::uint64_t forward(borrowed_handle from, borrowed_handle to);

/// How forward() shares the CPU with the processes at either end. The default changes nothing.
struct forward_options {
    /// Linux: while forward() runs, the calling thread is SCHED_BATCH; its policy is put back on
    /// return, on every path. A woken SCHED_BATCH thread does not preempt the running one. So
    /// when the writer, forward() and the reader share a CPU, forward() no longer takes the CPU
    /// from the writer after each of its writes to move just that write: it moves a full pipe
    /// each time the writer blocks or its time slice ends. Same share of CPU, same nice value.
    /// - What it buys: on the README's 2-core guest, 1 GiB from a child in 64 KiB writes through
    ///   1 MiB pipes into a reader, all on one CPU, took 15,000-20,000 context switches per
    ///   GiB without it and 3,500 with it, and about 20% longer (bench/peers, `forward`).
    /// - What it costs: under CPU contention, data may wait for the running task's time slice
    ///   (a few milliseconds) before it moves. Leave it off for interactive streams.
    /// - Only a thread whose policy is SCHED_OTHER is changed: a real-time, SCHED_IDLE or
    ///   SCHED_RESET_ON_FORK thread is left as it is, and so is the thread when the system
    ///   refuses the change (seccomp, a container's policy). Ignored on Windows.
    bool batch_scheduling = false;
};

/// forward() with options (forward_options). Same results and errors as forward().
std::uint64_t forward(borrowed_handle from, borrowed_handle to, const forward_options& opt,
                      std::error_code& ec) noexcept;
/// As above. @throws std::system_error naming both handles.
std::uint64_t forward(borrowed_handle from, borrowed_handle to, const forward_options& opt);

/// Convenience: text in, text out.
void write_all(borrowed_handle h, std::string_view text);
/// Reads until end-of-file and returns everything read.
std::string read_to_end(borrowed_handle h);
/// As read_to_end(), bounded in time.
/// @returns everything read up to end-of-file.
/// @throws std::system_error errc::timed_out if end-of-file did not come in time (the message
///         says how many bytes had arrived; the overload with an error_code keeps them), or the
///         OS error.
std::string read_to_end_for(borrowed_handle h, milliseconds timeout);
/// As read_to_end(), bounded in time: errc::timed_out if end-of-file did not come in time
/// (what was read so far is returned).
std::string read_to_end_for(borrowed_handle h, milliseconds timeout, std::error_code& ec);

/// Reads a handle to its end-of-file in large chunks, into a buffer the reader owns: the way to
/// stream a child's output with the fewest reads and the cheapest copies.
/// - The buffer is as large as the pipe (pipe_capacity(), at most 1 MiB; 64 KiB when the handle
///   is no pipe or cannot say), so that one read drains a full pipe: the writer then blocks once
///   per capacity instead of once per read. Pair it with stdio::pipe(capacity).
/// - The buffer starts on a page boundary, so the kernel's copy into it is aligned: on the
///   README's AMD EPYC guest a read into a buffer 16 bytes past a cache line (where glibc puts
///   a std::vector of 128 KiB or more) was about 5% slower.
///
/// The handle is borrowed: it must outlive the reader, which never closes it.
///
///     tether::spawn_options opt;
///     opt.argv = {"./producer"};
///     opt.out = tether::stdio::pipe(512 * 1024);
///     auto c = tether::spawn(std::move(opt));
///     auto out = c.take_stdout();
///     tether::chunk_reader reader(out);
///     for (auto chunk = reader.next(); !chunk.empty(); chunk = reader.next()) consume(chunk);
class chunk_reader {
public:
    /// A reader of `h` with a buffer of `buffer_size` bytes rounded up to whole pages (4 KiB);
    /// 0 chooses from the pipe's capacity as above.
    /// @throws std::system_error errc::invalid_argument for a buffer_size over 1 GiB (naming it);
    ///         std::bad_alloc if the buffer cannot be allocated.
    explicit chunk_reader(borrowed_handle h, std::size_t buffer_size = 0);

    /// Blocks until data or end-of-file, as read().
    /// @returns the bytes read, valid until the next call or the reader's end; empty at
    ///          end-of-file (and at every call after it).
    /// @throws std::system_error naming the handle; nothing read is lost (the failed read
    ///         consumed nothing).
    std::span<const std::byte> next();
    /// As above, reporting failure in `ec` (and returning an empty span) instead of throwing.
    std::span<const std::byte> next(std::error_code& ec) noexcept;
    /// Non-blocking, as try_read(): what is there now, for an event loop (a poller's readable
    /// event) or a read bounded by something else (tether/tied.hpp).
    /// @returns the bytes read; empty with `ec` clear at end-of-file, empty with
    ///          errc::would_block when nothing is there yet.
    std::span<const std::byte> try_next(std::error_code& ec) noexcept;

    /// The buffer's size in bytes: the most one next() returns.
    [[nodiscard]] std::size_t buffer_size() const noexcept { return size_; }

private:
    struct page_delete {
        void operator()(std::byte* p) const noexcept;
    };
    borrowed_handle h_;
    std::size_t size_;
    std::unique_ptr<std::byte[], page_delete> buf_;
};

// ---- The .NET shape (System.IO.Pipes.AnonymousPipeServerStream / ClientStream).

/// The parent's side of an anonymous pipe. Holds our end and, until the child is started, the
/// client end. With tether::spawn you do not need dispose_local_copy_of_client_handle():
/// pass take_client_handle() to spawn_options::pass and a successful spawn closes it.
class pipe_server {
public:
    /// @param d our direction (in: we read; out: we write).
    /// @param buffer_size advisory pipe capacity in bytes (F_SETPIPE_SZ / CreatePipe nSize);
    ///        0 keeps the system default.
    explicit pipe_server(direction d, std::size_t buffer_size = 0);

    /// @returns our direction (in: we read; out: we write).
    [[nodiscard]] direction dir() const noexcept { return dir_; }
    /// @returns our end of the pipe.
    [[nodiscard]] borrowed_handle handle() const noexcept { return ours_.borrow(); }
    /// The client end, still owned by the server (invalid once disposed or taken).
    [[nodiscard]] borrowed_handle client_handle() const noexcept { return client_.borrow(); }
    /// The client end for a child's command line, as AnonymousPipeServerStream.GetClientHandleAsString():
    /// a placeholder (`{tether-handle:N}`, the same as handle_arg(client_handle())) that
    /// tether::spawn replaces with the value the child receives, because that value differs from
    /// ours (POSIX renumbers passed descriptors to 3, 4, ...; Windows duplicates them). Pass the
    /// client end too (take_client_handle()); a placeholder for a handle that is not passed is an
    /// error of spawn(), and pipe_client refuses an unreplaced one. For a child started some
    /// other way, put to_handle_string(client_handle()) on its command line instead.
    /// @returns the placeholder text.
    /// @throws std::system_error errc::invalid_argument once the client end was taken or disposed of.
    [[nodiscard]] std::string client_handle_string() const;
    /// Closes the server's copy of the client end. Call it once the child has its own copy;
    /// until then the server never sees end-of-file or a broken pipe.
    void dispose_local_copy_of_client_handle() noexcept { client_.reset(); }
    /// Hands the client end over (e.g. to spawn_options::pass), leaving none in the server.
    [[nodiscard]] unique_handle take_client_handle() noexcept { return std::move(client_); }

    /// tether::read() on our end. @returns the bytes read; 0 means end-of-file.
    std::size_t read(std::span<std::byte> buf) { return tether::read(ours_, buf); }
    /// tether::write_all() on our end. @throws std::system_error errc::peer_gone if the reader is gone.
    void write(std::span<const std::byte> data) { tether::write_all(ours_, data); }
    /// tether::write_all() of text on our end. @throws std::system_error errc::peer_gone if the reader is gone.
    void write(std::string_view text) { tether::write_all(ours_, text); }
    /// tether::read_to_end() on our end. @returns everything up to end-of-file.
    std::string read_to_end() { return tether::read_to_end(ours_); }
    /// Closes our end and, if still held, the client end.
    void close() noexcept { ours_.reset(); client_.reset(); }

private:
    direction dir_;
    unique_handle ours_;
    unique_handle client_;
};

/// The child's side: opens a handle string produced by pipe_server (or by .NET's
/// GetClientHandleAsString()). Validates before it takes ownership.
class pipe_client {
public:
    /// @throws std::system_error: errc::invalid_handle_string (not a number, not open),
    ///         errc::not_a_pipe, errc::wrong_direction; the message names the input.
    pipe_client(direction d, std::string_view handle_string);
    /// Takes `h` (e.g. from tether::inherited()) after the same checks.
    /// @throws std::system_error errc::not_a_pipe, errc::wrong_direction, errc::invalid_handle_string.
    pipe_client(direction d, unique_handle h);

    /// @returns our direction (in: we read; out: we write).
    [[nodiscard]] direction dir() const noexcept { return dir_; }
    /// @returns our end of the pipe.
    [[nodiscard]] borrowed_handle handle() const noexcept { return h_.borrow(); }
    /// tether::read() on our end. @returns the bytes read; 0 means end-of-file.
    std::size_t read(std::span<std::byte> buf) { return tether::read(h_, buf); }
    /// tether::write_all() on our end. @throws std::system_error errc::peer_gone if the reader is gone.
    void write(std::span<const std::byte> data) { tether::write_all(h_, data); }
    /// tether::write_all() of text on our end. @throws std::system_error errc::peer_gone if the reader is gone.
    void write(std::string_view text) { tether::write_all(h_, text); }
    /// tether::read_to_end() on our end. @returns everything up to end-of-file.
    std::string read_to_end() { return tether::read_to_end(h_); }
    /// Closes our end.
    void close() noexcept { h_.reset(); }

private:
    direction dir_;
    unique_handle h_;
};

/// Parses and validates a handle string without taking ownership: decimal, open, a pipe, and
/// the end that matches `d` (the client's direction). Used by pipe_client.
std::error_code check_pipe_handle_string(direction d, std::string_view handle_string,
                                         native_handle& out) noexcept;

}  // namespace tether
