// tether/tied.hpp — reads that end when their child does, not only at end-of-file.
//
// A pipe's end-of-file comes when every copy of its write end is closed. A child that starts a
// background process (`sh -c 'server &'`) hands that process its copy, so a plain
// read_to_end() of the child's stdout waits as long as the grandchild lives, after the child
// itself has long exited. Tied to the child, the read waits for end-of-file or for the child's
// exit plus a grace, whichever comes first; if the grace passes with the pipe still open, the
// read ends with errc::held_open and a sentence naming who holds it (from holders()):
//
//   auto out = c.take_stdout();
//   std::error_code ec;
//   std::string who;
//   auto text = tether::read_to_end(out, c, std::chrono::milliseconds(200), ec, who);
//   if (ec == tether::errc::held_open) std::cerr << who << "\n";  // text holds what came
//
// The child is waited for (reaped) on the way: c.status() says how it ended afterwards.
#pragma once

#include <tether/handle.hpp>
#include <tether/spawn.hpp>

#include <chrono>
#include <string>
#include <system_error>

namespace tether {

/// How long a pipe may stay open after the child it was made for has exited, by default.
inline constexpr std::chrono::milliseconds default_exit_grace{200};

/// Reads `h` until end-of-file, or until `c` has exited and `grace` has passed while the pipe
/// is still open: then errc::held_open in `ec`, and `who` names the processes that hold the
/// pipe's other end ("stdout is still held open by PID 4242 `sleep 100` (fd 1), ..."). The
/// child is reaped on the way. @returns everything read, in both cases; on another error the
/// OS error (or errc::invalid_argument for an empty child or a negative grace) in `ec`.
std::string read_to_end(borrowed_handle h, child& c, milliseconds grace, std::error_code& ec, std::string& who);

/// As above. @throws std::system_error: errc::held_open with the sentence naming the holders
///         (the overload with an error_code keeps what was read), or the OS error.
std::string read_to_end(borrowed_handle h, child& c, milliseconds grace = default_exit_grace);

}  // namespace tether
