// tether/tied.hpp — reads that end when their child does, not only at end-of-file.
//
// A pipe's end-of-file comes when every copy of its write end is closed. A child that starts a
// background process (`sh -c 'server &'`) hands that process its copy, so a plain
// read_to_end() of the child's stdout waits as long as the grandchild lives, after the child
// itself has long exited. Tied to the child, a read waits for end-of-file or for the child's
// exit plus a grace, whichever comes first; if the grace passes with the pipe still open, the
// read ends with errc::held_open and a sentence naming who holds it (from holders()):
//
//   auto out = c.take_stdout();
//   std::error_code ec;
//   std::string who;
//   auto text = tether::read_to_end(out, c, std::chrono::milliseconds(200), ec, who);
//   if (ec == tether::errc::held_open) std::cerr << who << "\n";  // text holds what came
//
// Every way of reading a child's output has its tied form: read_to_end, read_to_end_for,
// forward, tied_chunk_reader (a chunk_reader tied to a child) and, in a poller, a pipe end added
// with its producer (poller::add(pipe_end, what, token, child&, grace): a held_open event).
//
// What every tied read shares:
// - A child whose exit the read sees is reaped on the way: c.status() says how it ended. A read
//   that ends at end-of-file does not wait for the exit (it may come a moment later: wait()).
// - The handle is watched with a tether::poller, so it must be one a poller accepts: any pipe
//   end or socket on Linux; on Windows an overlapped pipe end, as tether's own ends are (a
//   child's stdio::pipe() stream, make_pipe()).
// - Data that arrives before end-of-file or the verdict is never lost: it is returned (or
//   forwarded) first. The grace counts from the moment the read learns of the exit.
// - Bad arguments (an empty child, a negative grace) are errc::invalid_argument, named.
#pragma once

#include <tether/handle.hpp>
#include <tether/pipe.hpp>
#include <tether/spawn.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace tether {

/// Reads `h` until end-of-file, or until `c` has exited and `grace` has passed while the pipe
/// is still open: then errc::held_open in `ec`, and `who` names the processes that hold the
/// pipe's other end ("the pipe is still held open by PID 4242 `sleep 100` (fd 1), ...").
/// @returns everything read, in both cases; on another error the OS error (or
///          errc::invalid_argument, explained in `who`) in `ec`.
std::string read_to_end(borrowed_handle h, child& c, milliseconds grace, std::error_code& ec, std::string& who);

/// As above. @throws std::system_error: errc::held_open with the sentence naming the holders
///         (the overload with an error_code keeps what was read), or the OS error.
std::string read_to_end(borrowed_handle h, child& c, milliseconds grace = default_exit_grace);

/// read_to_end() tied to `c`, and bounded in time as well: errc::timed_out once `timeout` has
/// passed with neither end-of-file nor the verdict (the child may still be running; it is not
/// waited for then). @returns everything read, whatever the outcome.
std::string read_to_end_for(borrowed_handle h, child& c, milliseconds timeout, milliseconds grace,
                            std::error_code& ec, std::string& who);

/// As above. @throws std::system_error errc::timed_out (saying how many bytes had arrived),
///         errc::held_open naming the holders, or the OS error.
std::string read_to_end_for(borrowed_handle h, child& c, milliseconds timeout,
                            milliseconds grace = default_exit_grace);

/// forward() tied to `c`: moves what `from` delivers into `to` until end-of-file, or until `c`
/// has exited and `grace` has passed (errc::held_open; `who` names the holders). Bytes go
/// through a buffer (pipe_capacity() of `from`, at most 1 MiB), not splice(2): the wait for
/// the child's exit sits between two reads.
/// @returns the bytes moved, whatever the outcome; errc::peer_gone if `to`'s reader is gone.
std::uint64_t forward(borrowed_handle from, borrowed_handle to, child& c, milliseconds grace, std::error_code& ec,
                      std::string& who);

/// As above. @throws std::system_error: errc::held_open naming the holders, or the error of
///         either handle, naming both.
std::uint64_t forward(borrowed_handle from, borrowed_handle to, child& c, milliseconds grace = default_exit_grace);

/// A chunk_reader tied to a child: next() returns chunks until end-of-file, or ends with
/// errc::held_open once the child has exited and the grace has passed with the pipe still open.
/// Borrows the handle and the child, which must outlive it.
///
///     tether::tied_chunk_reader reader(out, c);
///     std::error_code ec;
///     for (auto chunk = reader.next(ec); !chunk.empty(); chunk = reader.next(ec)) consume(chunk);
///     if (ec == tether::errc::held_open) std::cerr << reader.held_by() << "\n";
class tied_chunk_reader {
public:
    /// @param h the pipe end to read (borrowed).
    /// @param c the child that writes into the pipe's other end (borrowed).
    /// @param grace how long the pipe may stay open after the child's exit.
    /// @param buffer_size as chunk_reader's (0: from the pipe's capacity).
    /// @throws std::system_error errc::invalid_argument for an empty child, a negative grace or
    ///         a buffer_size over 1 GiB (naming it); the poller's errors for a handle it cannot
    ///         watch.
    tied_chunk_reader(borrowed_handle h, child& c, milliseconds grace = default_exit_grace,
                      std::size_t buffer_size = 0);
    tied_chunk_reader(tied_chunk_reader&&) noexcept;             ///< takes over the reader
    tied_chunk_reader& operator=(tied_chunk_reader&&) noexcept;  ///< takes over the reader
    ~tied_chunk_reader();                                        ///< closes nothing it borrowed

    /// Blocks until data, end-of-file, or the verdict.
    /// @returns the bytes read, valid until the next call; empty at end-of-file.
    /// @throws std::system_error errc::held_open naming the holders, or the read's error.
    std::span<const std::byte> next();
    /// As above, reporting failure (errc::held_open included) in `ec` and returning an empty span.
    std::span<const std::byte> next(std::error_code& ec);

    /// After errc::held_open: who holds the pipe's other end (empty before).
    [[nodiscard]] const std::string& held_by() const noexcept;
    /// The buffer's size in bytes: the most one next() returns.
    [[nodiscard]] std::size_t buffer_size() const noexcept;

private:
    struct state;
    std::unique_ptr<state> s_;
};

}  // namespace tether
