// tether/spawn.hpp — start a child that receives exactly the handles you name.
//
// Ownership is in the signatures: spawn_options::pass takes a handle by rvalue; spawn() takes
// the options by rvalue. On success every passed handle's parent copy is closed before spawn()
// returns (DisposeLocalCopyOfClientHandle, done by the type system). On failure spawn() throws
// and the options still own every handle, so the caller can retry or close them.
#pragma once

#include <tether/handle.hpp>
#include <tether/pipe.hpp>
#include <tether/terminal.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace tether {

/// How one of the child's standard streams is set up.
struct stdio {
    /// The ways a stream can be set up (the factory functions below make each).
    enum class kind { inherit, null, pipe, handle, to_stdout, terminal };
    kind how{kind::inherit};  ///< which of them
    unique_handle h;  ///< for kind::handle
    std::size_t capacity{0};  ///< for kind::pipe: the pipe's capacity in bytes; 0 = the system's
    unsigned cols{80};  ///< for kind::terminal: its width in columns (1..65535)
    unsigned rows{24};  ///< for kind::terminal: its height in rows (1..65535)

    /// Ours (the default).
    static stdio inherit() { return {}; }
    /// The null device (/dev/null, NUL).
    static stdio null() { return {kind::null, {}}; }
    /// A new pipe; the parent's end is available from child::take_stdin() etc.
    static stdio pipe() { return {kind::pipe, {}}; }
    /// A new pipe of `capacity` bytes (make_pipe(direction, capacity)): a child that streams
    /// a lot is read in fewer, larger reads and blocks less often (bench/peers: `stream`).
    static stdio pipe(std::size_t capacity) { return {kind::pipe, {}, capacity}; }
    /// This handle; consumed by a successful spawn.
    static stdio from(unique_handle&& h) { return {kind::handle, std::move(h)}; }
    /// stderr only: the same object as the child's stdout ("2>&1"). If stdout is inherited and
    /// our fd 1 is closed or close-on-exec (stdout was closed and one of our own descriptors
    /// landed on 1), the child's stderr is closed as its stdout is: it never receives it.
    static stdio to_stdout() { return {kind::to_stdout, {}}; }
    /// A terminal of 80 x 24 (docs/terminals.md): the child's controlling terminal, in a new
    /// session of its own. Every stream that asks for one gets the same terminal (usually all
    /// three); the parent's side comes from child::take_terminal(). Linux: a pseudo-terminal;
    /// Windows: a pseudo console (ConPTY, Windows 10 1809 or later; each dimension at most
    /// 32767).
    /// Not for a detached child.
    static stdio terminal() { return {kind::terminal, {}}; }
    /// A terminal of `cols` x `rows` (each 1..65535; every terminal stream must ask for the
    /// same size, spawn() refuses otherwise).
    static stdio terminal(unsigned cols, unsigned rows) {
        stdio s{kind::terminal, {}};
        s.cols = cols;
        s.rows = rows;
        return s;
    }
};

/// The name of the environment variable that lists the passed handles: "name:value,...".
inline constexpr const char* manifest_variable = "TETHER_HANDLES";
/// The name of the environment variable with the spawning process's id. A grandchild ignores
/// the manifest, even one that inherited the descriptors too (run through sh -c or system()):
/// on POSIX the child writes its own id into TETHER_CHILD_PID before exec, and only that
/// process reads the manifest; on Windows the writer must be the reader's creator. spawn()
/// refuses env_set of these variables beside named handles.
inline constexpr const char* manifest_parent_variable = "TETHER_PARENT_PID";

/// A placeholder for the value `h` will have in the child, to put in argv (the .NET style:
/// "--log-to", handle_arg(child_end)). spawn() replaces it; `h` must also be passed.
std::string handle_arg(borrowed_handle h);

/// Which process group (POSIX) or job (Windows) a child starts in (docs/lifetimes.md).
enum class process_group {
    /// Ours, as a plain fork/exec or CreateProcess would do (the default). child::kill_tree()
    /// then ends the child only.
    inherit,
    /// POSIX: a new process group led by the child (setpgid(0, 0) before exec), so a terminal's
    /// Ctrl+C for our group does not reach it. Windows: a job object of its own. Either way
    /// child::kill_tree() ends the child and its descendants.
    new_group,
    /// POSIX: a new session (setsid() before exec), which also leaves our controlling terminal.
    /// Windows: as new_group. child::kill_tree() ends the tree as for new_group.
    new_session,
};

namespace detail {
struct process_tree;  // per-backend: the cgroup or process group (POSIX), the job (Windows)
}  // namespace detail

/// Everything spawn() needs. Move-only, because it owns the handles to pass.
struct spawn_options {
    /// argv[0] is the program: a path, or a name searched in PATH (the child's PATH if the
    /// options set one, else ours). No shell is involved.
    std::vector<std::string> argv;
    /// Working directory of the child; empty = ours.
    std::string cwd;
    /// Start from our environment (true) or from an empty one (false).
    bool inherit_environment{true};
    /// Variables to set (overriding inherited ones) and to remove.
    std::map<std::string, std::string> env_set;
    std::vector<std::string> env_unset;  ///< variables not to pass on (after env_set, so unset wins)

    stdio in;   ///< the child's standard input
    stdio out;  ///< the child's standard output
    stdio err;  ///< the child's standard error

    /// If true, ~child kills a child that is still running (like Boost.Process); by default
    /// the destructor neither kills nor waits (see child).
    bool kill_on_destroy{false};

    /// The child's process group or session (POSIX) or job (Windows); see process_group.
    /// Anything but inherit gives child::kill_tree() a whole tree to end. On Linux tether also
    /// puts such a child into a cgroup v2 of its own where the system lets us create one
    /// (docs/lifetimes.md says what each way guarantees).
    process_group group{process_group::inherit};

    /// Gives the child a tree of its own for child::kill_tree() while it stays in our process
    /// group, so a terminal's Ctrl-C still reaches it (run() sets it by default). Linux:
    /// kill_tree() finds the descendants by parent id under /proc while the child is unreaped
    /// (no cost per spawn; a descendant whose parent exited is not found: for a cgroup that
    /// catches those too, use a group); Windows: a job of its own. A group other than inherit
    /// gives a tree anyway. Refused (errc::invalid_argument) together with detached.
    bool own_tree{false};

    /// Opt-in: the child is killed when this process ends, however it ends (SIGKILL included).
    /// Linux: PR_SET_PDEATHSIG(SIGKILL) set before exec, and a child whose parent died before that
    /// is set exits at once (status 127). The kernel sends the signal when the creating *thread*
    /// ends, and execve() ends every thread but its caller. Spawned from the main thread, the
    /// child is created there: it survives an execve() by the main thread, and dies when the main
    /// thread ends (process exit, an execve() by another thread, pthread_exit). Spawned from any
    /// other thread, it is created by a spawner thread that lives as long as the process: it
    /// survives the spawning thread's exit, and dies at process exit and at any execve(). The
    /// whole tree: the child also gets a cgroup, which a watcher process ends when this process
    /// ends in any way (SIGKILL included; not an execve), with every descendant in it; where
    /// children get no cgroup only the child itself is covered (docs/lifetimes.md). Windows: the child is in a job with
    /// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE whose only handle this process holds (never
    /// inheritable, kept until we exit even after the child object is gone), so the child and
    /// every descendant that did not break away die with us.
    /// Refused (errc::invalid_argument) together with detached.
    bool kill_on_parent_exit{false};

    /// Start a detached child that outlives us and our terminal (as .NET's StartDetached): a new
    /// session (POSIX, by a double fork, so it is re-parented to init or the nearest subreaper and
    /// is never our zombie) or DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP, out of our job where
    /// the job allows breakaway (Windows). Streams left as stdio::inherit() go to the null
    /// device. The returned child has pid() but no process: it cannot be waited for or signalled
    /// (errc::not_supported) and its destructor does nothing. Refused (errc::invalid_argument)
    /// together with kill_on_parent_exit, kill_on_destroy, group == process_group::new_group, or
    /// a stdio::pipe() stream.
    bool detached{false};

    /// Windows only (ignored on POSIX). By default a child that must get a handle which is not
    /// already inheritable in this process inherits it from tether's handle vault, a suspended
    /// process of ours, which is then the child's recorded parent (docs/windows.md). If true,
    /// tether instead makes inheritable duplicates in this process for the duration of the
    /// CreateProcessW call, so this process is the child's parent. Caveat (the reverse race):
    /// during that call any other thread's CreateProcess(bInheritHandles=TRUE) without a handle
    /// list (.NET's Process.Start, most libraries) also inherits those duplicates, and its child
    /// then holds our pipe ends open, so end-of-file never comes. Use it only where no other
    /// thread starts processes.
    bool windows_direct_inheritance{false};

    /// Passes `h` to the child at the next free number (3, 4, … on POSIX; on Windows its
    /// inherited value), listed in the manifest under `name` if it is not empty.
    /// Names: letters, digits, '_', '-', '.'; unique.
    spawn_options& pass(unique_handle&& h, std::string name = {});
    /// POSIX only: passes `h` at descriptor `child_fd` (>= 3). A number at or above
    /// RLIMIT_NOFILE fails with EMFILE (std::errc::too_many_files_open); any below it works. On
    /// Windows spawn() fails with errc::not_supported.
    spawn_options& pass_at(int child_fd, unique_handle&& h, std::string name = {});
    /// Linux: passes `h` in systemd's socket activation convention (sd_listen_fds(3)), which
    /// gunicorn, uvicorn, libsystemd, python-systemd and many daemons read: these handles are
    /// placed at 3, 4, … in the order given, and the child gets LISTEN_FDS (their count),
    /// LISTEN_FDNAMES (their names, ':'-separated) and LISTEN_PID (its own id, written by the
    /// child before exec, so a grandchild ignores them). A tether child takes them with
    /// inherited(name). They combine with stdio and with pass() (whose handles follow them,
    /// listed in tether's own manifest). `name`: 1 to 255 printable ASCII characters, no ':'.
    /// spawn() refuses (errc::invalid_argument, naming it) a bad name, a name given twice, a
    /// pass_at() number among theirs, and LISTEN_* in env_set beside them; Windows has no such
    /// convention (errc::not_supported). docs/socket-activation.md.
    spawn_options& pass_listen_fd(unique_handle&& h, std::string name);

    /// One handle to pass, as pass(), pass_at() and pass_listen_fd() record it.
    struct passed {
        unique_handle h;   ///< the handle; closed by a successful spawn
        std::string name;  ///< its name in the manifest (empty: not listed)
        int child_fd{-1};  ///< -1 = next free
        bool listen_fd{false};  ///< pass_listen_fd(): a LISTEN_FDS entry (child_fd is 3 + its index)
    };
    /// The handles to pass, in order; owned here until a successful spawn closes them.
    std::vector<passed> handles;
};

/// How a child ended.
struct exit_status {
    /// Exited by itself, or killed by a signal (POSIX; Windows children always "exit"), or
    /// unknown: the child ended but its status was collected by someone else (POSIX: SIGCHLD
    /// set to SIG_IGN, which makes the kernel discard it, or an application's waitpid(-1)).
    /// An unknown status is never a success.
    enum class kind { exited, signalled, unknown };
    kind how{kind::exited};  ///< which of them
    int code{0};           ///< exit code (exited) or signal number (signalled)
    bool core_dumped{false};  ///< POSIX: the signal left a core dump

    /// @returns true for exit code 0.
    [[nodiscard]] bool success() const noexcept { return how == kind::exited && code == 0; }
    /// @returns true if the child exited (any code).
    [[nodiscard]] bool exited() const noexcept { return how == kind::exited; }
    /// @returns true if a signal ended the child.
    [[nodiscard]] bool signalled() const noexcept { return how == kind::signalled; }
    /// Ended abnormally: killed by a signal (POSIX), or by an unhandled exception (Windows:
    /// an exit code that is an NTSTATUS error such as 0xC0000005).
    [[nodiscard]] bool crashed() const noexcept;
    /// "exited with code 3", "killed by signal 9 (SIGKILL)", "... (core dumped)",
    /// "crashed: access violation (0xC0000005)" (Windows), "ended, exit status unknown ...".
    [[nodiscard]] std::string describe() const;
    /// Equal if every field is.
    friend bool operator==(const exit_status&, const exit_status&) = default;
};

/// How long a pipe may stay open after the child it was made for has exited, by default: the
/// grace of the reads tied to a child (tether/tied.hpp), of a poller's tied pipe ends and of
/// run_options::eof_grace. Long enough for a child's last write to arrive, short enough that a
/// background process holding the pipe is named while the user still waits.
inline constexpr std::chrono::milliseconds default_exit_grace{200};

/// A running (or finished) child process.
///
/// On Linux it holds a pidfd (pidfd_open), so waits and signals never reach a reused PID.
/// Destructor policy: it does not terminate the child (unless spawn_options::kill_on_destroy)
/// and does not block. A child that has already exited is reaped at once; one still running
/// is handed to a process-wide list that is reaped without blocking at every later spawn() and
/// by reap_detached(), so it never stays a zombie for long and never needs a thread.
class child {
public:
    /// An empty child (no process).
    child() noexcept = default;
    /// Takes over `other`'s process; `other` is empty afterwards.
    child(child&& other) noexcept;
    /// Gives up the current process as the destructor would, then takes over `other`'s.
    child& operator=(child&& other) noexcept;
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    ~child();

    /// @returns true if this object holds a process (started and not moved from).
    [[nodiscard]] explicit operator bool() const noexcept;
    /// @returns the process id (-1 for an empty child).
    [[nodiscard]] std::int64_t pid() const noexcept { return pid_; }
    /// The pidfd (Linux) or process HANDLE (Windows); invalid after the child was reaped on POSIX.
    [[nodiscard]] borrowed_handle process_handle() const noexcept { return process_.borrow(); }

    /// Blocks until the child ends, then reaps it. Idempotent: later calls return the same status.
    /// @throws std::system_error: errc::invalid_argument for an empty child, errc::not_supported
    ///         for a detached one (spawn_options::detached), the OS error otherwise.
    exit_status wait();
    /// As wait(), reporting failure in `ec` (and returning a default exit_status) instead.
    exit_status wait(std::error_code& ec);
    /// Waits at most `timeout`; nullopt if it is still running.
    std::optional<exit_status> wait_for(milliseconds timeout);
    /// Does not block; nullopt if it is still running.
    std::optional<exit_status> try_wait();
    /// As try_wait(), reporting failure in `ec` (and returning nullopt) instead of throwing.
    std::optional<exit_status> try_wait(std::error_code& ec);
    /// Waits up to `timeout` for the child to end; if it has not, kills it (kill_tree() when it
    /// was given a group or job of its own, else kill()) and reaps it. Like .NET's
    /// WaitForExitOrKillOnTimeout. A zero timeout kills at once unless the child has already
    /// ended; milliseconds::max() waits without limit.
    /// @returns how the child ended (signalled SIGKILL / exit code 1 on Windows if it was killed).
    /// @throws std::system_error: errc::invalid_argument for a negative timeout (naming it), an
    ///         empty or detached child, or the OS error of the wait or the kill.
    exit_status wait_or_kill(milliseconds timeout);
    /// The status once known (after a wait that returned one).
    [[nodiscard]] std::optional<exit_status> status() const noexcept { return status_; }

    /// SIGKILL / TerminateProcess(1). No effect on a child already reaped.
    void kill();
    /// As kill(), reporting failure in `ec` instead of throwing.
    void kill(std::error_code& ec);
    /// SIGTERM / TerminateProcess(1) (Windows has no polite signal for a console-less child).
    void terminate();
    /// As terminate(), reporting failure in `ec` instead of throwing.
    void terminate(std::error_code& ec);
    /// Ends the child and all its descendants at once (SIGKILL / TerminateJobObject(1)), if it was
    /// started with a process_group other than inherit; otherwise the same as kill().
    /// Linux, with a cgroup: cgroup.kill, which reaches every descendant, including those that
    /// left the process group or were re-parented. Without one: the descendants are frozen
    /// (SIGSTOP) and collected by walking /proc by parent id until no new one appears, then the
    /// process group and every collected process get SIGKILL; a descendant that both left the
    /// group and lost its link to the child (its parent exited) is not found.
    /// Windows: TerminateJobObject on the child's job (all processes that did not break away).
    /// After the child was reaped: the cgroup or the job is still ended (it is ours, no id can be
    /// reused); the process-group fallback does nothing (the group id may belong to others).
    void kill_tree();
    /// As kill_tree(), reporting failure in `ec` instead of throwing.
    void kill_tree(std::error_code& ec);
    /// As kill_tree(), but SIGTERM (each frozen process is continued so that it sees it); on
    /// Windows the same as kill_tree() (TerminateJobObject).
    void terminate_tree();
    /// As terminate_tree(), reporting failure in `ec` instead of throwing.
    void terminate_tree(std::error_code& ec);
    /// POSIX: send any signal. Windows: errc::not_supported.
    void signal(int sig);

    /// The parent's end of a stdio::pipe() stream (invalid if that stream was not a pipe).
    [[nodiscard]] unique_handle take_stdin() noexcept { return std::move(stdin_); }
    /// The parent's end of a stdio::pipe() stdout (invalid if stdout was not a pipe).
    [[nodiscard]] unique_handle take_stdout() noexcept { return std::move(stdout_); }
    /// The parent's end of a stdio::pipe() stderr (invalid if stderr was not a pipe).
    [[nodiscard]] unique_handle take_stderr() noexcept { return std::move(stderr_); }
    /// The parent's side of the stdio::terminal() streams (an empty terminal if none asked for
    /// one, or it was taken already). Until it is taken, the child object keeps it open.
    [[nodiscard]] terminal take_terminal() noexcept { return std::move(terminal_); }

    /// Gives up the child: it is no longer killed or waited for by this object, but is reaped by
    /// the detached list (see class comment).
    void detach() noexcept;

private:
    friend child spawn(spawn_options&&, std::error_code&);
    friend struct child_access;
    std::int64_t pid_{-1};
    unique_handle process_;
    unique_handle stdin_, stdout_, stderr_;
    terminal terminal_;  // stdio::terminal(): ours until take_terminal()
    std::optional<exit_status> status_;
    bool kill_on_destroy_{false};
    bool detached_{false};  // spawn_options::detached: pid only, never waited or signalled
    std::shared_ptr<detail::process_tree> tree_;  // null unless a group, job or parent-death job
};

/// Convenience: reads the child's stdout pipe (stdio::pipe()) to end-of-file and closes it.
std::string take_stdout_text(child& c);

/// Starts a child. See the header comment for ownership.
/// @throws std::system_error: errc::invalid_argument for options that cannot work (empty argv,
///         a bad name, a handle_arg placeholder for a handle not passed, ...); the OS error for
///         a program that cannot be run (ENOENT, EACCES, a directory, a bad working directory),
///         with a message that names the program and the cause.
child spawn(spawn_options&& options);
/// As above; on failure returns an empty child and sets `ec` (the options keep their handles).
child spawn(spawn_options&& options, std::error_code& ec);
/// As above, and on failure `message` receives the explanation the throwing overload carries
/// ("spawn 'x': program 'x' not found in PATH (/usr/bin:/bin)"; the text before
/// ec.message() in its what()). Cleared on success.
/// @param options what to start; kept, with every handle, on failure.
/// @param ec set on failure, cleared on success.
/// @param message set to the explanation on failure, cleared on success.
/// @returns the child, or an empty child on failure.
child spawn(spawn_options&& options, std::error_code& ec, std::string& message);

/// Reaps, without blocking, detached children that have exited; returns how many remain.
std::size_t reap_detached();

// ---- The child's side.

/// Takes the handle the parent passed under `name` (from the manifest). Each name can be taken
/// once. Linux: also a descriptor handed over by systemd's socket activation (LISTEN_PID,
/// LISTEN_FDS, LISTEN_FDNAMES, as sd_listen_fds_with_names(3) reads them) when LISTEN_PID is
/// this process: each is checked to be open and made close-on-exec, and the three variables are
/// removed from our environment, as sd_listen_fds(1) does, so no process we start adopts them.
/// Variables addressed to another process are ignored (and removed), as systemd does.
/// @throws std::system_error: errc::no_manifest if this process was not given handles (or
/// the manifest belongs to another process), errc::unknown_handle_name naming the missing name
/// and the names present, errc::invalid_handle_string naming the variable and its value when
/// the LISTEN_* variables addressed to us are malformed or name a descriptor that is not open.
unique_handle inherited(std::string_view name);
/// As above, reporting failure in `ec` (and returning an empty handle) instead of throwing.
unique_handle inherited(std::string_view name, std::error_code& ec);

/// The names in this process's manifest, then those of systemd's LISTEN_FDNAMES (empty if
/// none or not ours).
std::vector<std::string> inherited_names();

/// The absolute path of the running program (/proc/self/exe, GetModuleFileNameW), so a program
/// can relaunch itself in a child role.
std::string current_executable_path();

}  // namespace tether
