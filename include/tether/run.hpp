// tether/run.hpp — one call that runs a child to the end: input in, output out, never a hang.
//
//   tether::spawn_options opt;
//   opt.argv = {"git", "status", "--porcelain"};
//   auto r = tether::run(std::move(opt));            // stdout and stderr captured
//   if (r.status.success()) use(r.out);
//
//   tether::run_options ro;
//   ro.input = "some text\n";                        // fed to stdin, which is then closed
//   ro.timeout = std::chrono::seconds(10);            // then the child's tree is ended
//   std::error_code ec;
//   std::string message;                              // this overload keeps what was read
//   auto sorted = tether::run({.argv = {"sort"}}, ro, ec, message).out;
//
// Everything happens on the calling thread over one tether::poller: stdin is fed while stdout
// and stderr are drained, so no size of input or output can deadlock (the classic trap of
// writing all of stdin before reading stdout). Like .NET 11's Process.RunAndCaptureText, run()
// returns once the child has exited even if its output pipes stay open: a grandchild that kept
// them (`sh -c 'daemon &'`) is given eof_grace to let go, then run() returns what it read and
// names who still holds each stuck pipe (run_result::stuck, from holders()); with kill_tree it
// ends them instead, so end-of-file arrives. run() owns what it started: on its timeout, its
// output limit or a sink that throws it ends the child's whole tree, not the child alone
// (end_tree), while the child stays in our process group so that Ctrl-C still reaches it.
#pragma once

#include <tether/holders.hpp>
#include <tether/spawn.hpp>
#include <tether/terminal.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tether {

/// What run() does besides spawning.
struct run_options {
    /// Written to the child's stdin, which is then closed (end-of-file). Without it stdin is as
    /// spawn_options::in says (inherited by default, as Python's subprocess.run). A child that
    /// exits without reading all of it is no error.
    std::optional<std::string> input;
    bool capture_stdout{true};  ///< capture the child's stdout (else spawn_options::out applies)
    bool capture_stderr{true};  ///< capture the child's stderr (else spawn_options::err applies)
    /// stderr goes into the stdout capture, interleaved as written (one pipe for both, "2>&1").
    bool merge_stderr{false};
    /// Streaming instead of capturing: each chunk of stdout (stderr) as it arrives; the capture
    /// stays empty. Used by `tether run`, which forwards output as it comes. A callback that
    /// throws ends the run: nothing more is delivered, the child is ended (its tree with
    /// end_tree) and collected, and run() rethrows the exception (both overloads).
    std::function<void(std::span<const std::byte>)> on_stdout;
    /// As on_stdout, for stderr (not called when merge_stderr: stderr is in stdout's stream).
    std::function<void(std::span<const std::byte>)> on_stderr;
    /// Streaming line by line instead (tether/lines.hpp): each line of stdout as it completes,
    /// without its newline (LF, or CR LF); the last line also without one. Not together with
    /// on_stdout. A line longer than max_line ends the run as a callback that throws does, with
    /// a std::system_error of errc::line_too_long naming the stream and the limit.
    std::function<void(std::string_view)> on_stdout_line;
    /// As on_stdout_line, for stderr.
    std::function<void(std::string_view)> on_stderr_line;
    /// The longest line on_stdout_line / on_stderr_line accept, in bytes (at least 1).
    std::size_t max_line{std::size_t{1} << 20};
    /// The whole run's limit. When it passes, the child is killed (its tree with end_tree), its
    /// exit is collected and run() reports errc::timed_out with everything read so far.
    /// Must be positive; milliseconds::max() (the default) is no limit.
    milliseconds timeout{milliseconds::max()};
    /// After the child exited, how long its output pipes may stay open (held by a grandchild)
    /// before run() stops waiting for their end-of-file. Zero: not at all. Must not be negative.
    milliseconds eof_grace{default_exit_grace};
    /// Per stream: more bytes than this ends the child (its tree with end_tree) and is
    /// reported as errc::output_limit, with the first `output_limit` bytes kept. Must be > 0.
    std::size_t output_limit{std::numeric_limits<std::size_t>::max()};
    /// On timeout, on the output limit and when a sink throws, end the child's whole tree
    /// (child::kill_tree()), not the child alone: the child gets a tree of its own
    /// (spawn_options::own_tree) and stays in our process group, so Ctrl-C in a terminal still
    /// reaches it. false: only the child is killed, and its descendants run on.
    bool end_tree{true};
    /// Also end the tree when a pipe is still held once eof_grace is over, which end_tree alone
    /// does not do (a child's `server &` may be meant to stay): then end-of-file arrives and
    /// run() reads to it, another eof_grace at most. A spawn_options::group of
    /// process_group::inherit becomes new_group. After the child was reaped, its tree can be
    /// ended through a cgroup (Linux) or its job (Windows); with the process-group fallback
    /// (no cgroup) a stuck pipe is reported as without kill_tree (docs/lifetimes.md). Implies
    /// end_tree.
    bool kill_tree{false};
    /// Runs the child on a terminal of this size (stdio::terminal(), docs/terminals.md) instead
    /// of pipes: its stdin, stdout and stderr are the one terminal, in a session of its own.
    /// What it shows — stdout and stderr interleaved, with the terminal's CR LF line ends and
    /// the echo of the input — goes where stdout's capture or stream goes; `err` stays empty,
    /// so on_stderr / on_stderr_line and merge_stderr are refused with it. `input` is typed
    /// (a canonical-mode line holds at most 4095 bytes), then end-of-file (Ctrl-D: once after
    /// a newline, twice after a partial line). The terminal's output counts as stdout for
    /// eof_grace, stuck (held by a descendant) and kill_tree. spawn_options::in, out and err
    /// must be left as inherited. Unset (the default): pipes.
    std::optional<terminal_size> terminal;
};

/// A pipe whose end-of-file did not come within run_options::eof_grace after the child exited.
struct stuck_pipe {
    std::string stream;   ///< "stdout" or "stderr"
    /// The processes that still hold its write end, from holders() (empty when unknown).
    std::vector<holder> holders;
    /// For a person: "stdout is still held open by PID 4242 `sleep 100` (fd 1), ..." or why
    /// the holders are unknown.
    std::string verdict;
};

/// What run() found. `Buffer` is std::string (run()) or std::vector<std::byte> (run_bytes()).
template <class Buffer>
struct basic_run_result {
    /// How the child ended (killed by us on timeout or output limit). exit_status::kind::unknown
    /// when someone else collected it (SIGCHLD ignored, or the application's waitpid(-1)): run()
    /// then reports that error (std::errc::no_child_process), never a success.
    exit_status status;
    Buffer out;          ///< the captured stdout (with stderr when merged)
    Buffer err;          ///< the captured stderr
    bool timed_out{false};      ///< the timeout passed and the child was ended
    bool output_limited{false}; ///< a stream passed output_limit and the child was ended
    bool input_truncated{false};  ///< the child closed stdin before reading all of the input
    /// run() ended the child's whole tree: on timeout, output limit or a throwing sink
    /// (end_tree), or because descendants held a pipe (kill_tree).
    bool tree_ended{false};
    std::vector<stuck_pipe> stuck;  ///< pipes a grandchild kept open (run() did not wait for them)
};
using run_result = basic_run_result<std::string>;                   ///< run()'s result
using run_bytes_result = basic_run_result<std::vector<std::byte>>;  ///< run_bytes()'s result

/// Runs `options` to the end as the header comment says: spawns it (stdin, stdout, stderr
/// set up per `ro`), feeds the input, collects the output and the exit status.
/// @throws std::system_error: what spawn() throws (a missing program: the same error and
///         message); errc::invalid_argument for options that cannot work (naming them: a
///         timeout <= 0, an output limit of 0, a captured stream whose spawn_options stream is
///         set too); errc::timed_out or errc::output_limit when the child was ended for it (use
///         the error_code overload to keep what was read).
run_result run(spawn_options&& options, const run_options& ro = {});
/// As above; failures and timed_out / output_limit go to `ec` (and `message`), and the result
/// holds everything read before (an empty result if the child never started).
run_result run(spawn_options&& options, const run_options& ro, std::error_code& ec, std::string& message);
/// run() with the output as bytes.
run_bytes_result run_bytes(spawn_options&& options, const run_options& ro = {});
/// As above, reporting failure in `ec` and `message`.
run_bytes_result run_bytes(spawn_options&& options, const run_options& ro, std::error_code& ec,
                           std::string& message);

}  // namespace tether
