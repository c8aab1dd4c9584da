// tether/terminal.hpp — the parent's side of a child's terminal (stdio::terminal()).
//
//   tether::spawn_options opt;
//   opt.argv = {"bash", "--norc", "-i"};
//   opt.in = opt.out = opt.err = tether::stdio::terminal(120, 40);  // one terminal for all three
//   tether::child c = tether::spawn(std::move(opt));
//   tether::terminal t = c.take_terminal();
//   tether::write(t.input(), "echo hi; exit\n");     // typed: the terminal echoes it back
//   std::string screen = tether::read_to_end(t.output());  // end-of-file once the session ended
//
// The child runs on the terminal as its controlling terminal, in a session of its own (Linux:
// a pseudo-terminal; setsid() and TIOCSCTTY before exec). Writing 0x03 (Ctrl-C) to input()
// interrupts its foreground process group, as a keyboard would; resize() sends SIGWINCH.
// Reading output() after the last process holding the child's side closed it is end-of-file,
// not an error (docs/terminals.md), so every read path of tether/pipe.hpp (read, read_for,
// chunk_reader, forward, try_read) and the poller work on it as on a pipe end.
#pragma once

#include <tether/handle.hpp>

#include <cstdint>
#include <memory>
#include <system_error>

namespace tether {

/// A terminal's size in character cells.
struct terminal_size {
    std::uint16_t cols{80};  ///< columns (1..65535)
    std::uint16_t rows{24};  ///< rows (1..65535)
    /// Equal if both are.
    friend bool operator==(const terminal_size&, const terminal_size&) = default;
};

/// The parent's side of a child's terminal, from child::take_terminal(). Move-only; owns what
/// the parent holds of the terminal (Linux: the pseudo-terminal's master; Windows: a pseudo
/// console with its input and output pipes, docs/terminals.md). Never inheritable: no other child of ours
/// can keep the session alive by accident.
///
/// The destructor closes it, as close() does: the child's side hangs up (Linux: the session
/// gets SIGHUP once the master is gone) — keep the object while the child should run.
class terminal {
public:
    /// An empty terminal (nothing open).
    terminal() noexcept;
    /// Takes over `other`'s terminal; `other` is empty afterwards.
    terminal(terminal&& other) noexcept;
    /// Closes ours (as close()), then takes over `other`'s.
    terminal& operator=(terminal&& other) noexcept;
    terminal(const terminal&) = delete;
    terminal& operator=(const terminal&) = delete;
    /// Closes the terminal (close()).
    ~terminal();

    /// @returns true while this object holds an open terminal.
    [[nodiscard]] explicit operator bool() const noexcept;

    /// Where to write what the child reads, as if typed (Linux: the master; Windows: the input
    /// pipe). Borrowed: valid until close(). The terminal echoes typed input into output()
    /// unless the child turned echo off. Invalid for an empty terminal. Linux: non-blocking, so
    /// that no write can sleep for ever on a full terminal (tether's calls wait as asked; a
    /// write to a session that has ended, once its buffer is full, is errc::peer_gone).
    [[nodiscard]] borrowed_handle input() const noexcept;
    /// Where to read what the child writes (Linux: the master, the same handle as input();
    /// Windows: the output pipe). End-of-file once the child's side is closed by every process
    /// that held it. Borrowed: valid until close(). Invalid for an empty terminal.
    [[nodiscard]] borrowed_handle output() const noexcept;

    /// Sets the terminal's size; the child's foreground process group gets SIGWINCH (Linux
    /// TIOCSWINSZ).
    /// @throws std::system_error: errc::invalid_argument for a 0 or a dimension above 65535
    ///         (naming it), errc::closed for an empty or closed terminal, the OS error otherwise.
    void resize(unsigned cols, unsigned rows);
    /// As resize(), reporting failure in `ec` instead of throwing.
    void resize(unsigned cols, unsigned rows, std::error_code& ec);
    /// The terminal's current size (as the child may have changed it).
    /// @throws std::system_error: errc::closed for an empty or closed terminal, the OS error.
    [[nodiscard]] terminal_size size() const;
    /// As size(), reporting failure in `ec` (and returning {0, 0}) instead of throwing.
    [[nodiscard]] terminal_size size(std::error_code& ec) const;

    /// Closes our side. Linux: the master is closed; the child's session is hung up (SIGHUP to
    /// its controlling process). Windows: the pseudo console is closed while its output is
    /// drained, the order ClosePseudoConsole needs, so close() never hangs; output nobody read
    /// is dropped, and processes still on the console end with it. Idempotent, never throws.
    void close() noexcept;

    /// Internal state (src/terminal.cpp).
    struct state;

private:
    friend struct terminal_access;
    std::unique_ptr<state> s_;
};

}  // namespace tether
