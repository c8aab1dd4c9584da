// tether/holders.hpp — who holds the other end of my pipe?
//
// The bug behind .NET's DisposeLocalCopyOfClientHandle is invisible: a read that never ends,
// because some copy of the pipe's write end is still open somewhere (the parent's own forgotten
// client handle, a grandchild that inherited it, ...). holders() lists, for each pipe (and, on
// Linux, Unix socket) a process holds, every other handle on the machine that refers to the
// same kernel object, and says in words why end-of-file will or will not arrive.
//
// The types are portable: a descriptor or a HANDLE is a `handle` value (an fd on Linux, the
// HANDLE's integer value on Windows), an object's identity is an opaque `object_id` (the inode
// on Linux; on Windows a number given per distinct object within one report).
//
// Linux reads /proc/PID/fd (which object), /proc/PID/fdinfo (which end: the O_ACCMODE bits of
// "flags") and /proc/PID/stat (parent chains). Windows reads the system handle table
// (NtQuerySystemInformation), duplicates each File handle of every process it may open, tells
// copies of the same pipe end by CompareObjectHandles, finds the other end by the pipe's name
// (every name query is bounded in time: on a blocked synchronous handle it can hang) and the
// parent chains from a Toolhelp32 snapshot with creation-time checks (Windows reuses PIDs).
// Windows lists named pipes only (tether's "anonymous" pipes are named pipes there).
// open_handle_count() is the Windows-only counterpart: how many handles refer to one object.
#pragma once

#include <tether/handle.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tether {

/// The kind of kernel object behind a descriptor.
enum class object_kind {
    pipe,         ///< Linux: an anonymous pipe, "pipe:[inode]" (a named FIFO shows its path and is not listed)
    unix_socket,  ///< Linux: an AF_UNIX socket (a socketpair end, a tether channel), "socket:[inode]"
    /// Windows: a named pipe end (tether's pipes and channels on Windows are named pipes, as are
    /// CreatePipe's). Its two ends are two kernel objects: the server end (CreateNamedPipe) and
    /// the client end (CreateFile); held_object::name names the pipe both share.
    named_pipe,
    /// Linux: a pseudo-terminal (stdio::terminal()). Its master ("/dev/ptmx", found by the
    /// "tty-index:" of fdinfo) is object_end::read: where the child's output is read; its child
    /// side "/dev/pts/N" (matched by device number) is object_end::write: end-of-file on the
    /// master needs every copy of it closed. object_id is the terminal's number N. Added last,
    /// so the earlier values keep their numbers.
    terminal,
};

/// Which end of the object a descriptor is.
enum class object_end {
    read,   ///< a pipe opened O_RDONLY; Windows: a handle with FILE_READ_DATA, not FILE_WRITE_DATA
    write,  ///< a pipe opened O_WRONLY; Windows: a handle with FILE_WRITE_DATA, not FILE_READ_DATA
    /// a socket, or a pipe opened O_RDWR (e.g. through /proc/PID/fd/N); Windows: a duplex pipe
    /// handle (or one whose access could not be read)
    both,
};

/// How a holder is related to the inspected process (from the parent-PID chains).
enum class relation {
    self,        ///< the inspected process itself (another descriptor of its own)
    child,       ///< its child
    descendant,  ///< a grandchild or further down (see holder::generations)
    parent,      ///< its parent
    ancestor,    ///< its grandparent or further up (see holder::generations)
    /// anything else, e.g. a grandchild whose parent exited (re-parented to init on Linux; on
    /// Windows its parent PID names a process that is gone, or a newer one that reused the PID)
    unrelated,
    /// Linux: not a descendant by parent PID any more, but probably left behind by one: in the
    /// inspected process's session and process group, started after it, and its parent is an
    /// older process that is not the inspected one's parent (it was re-parented to PID 1 or a
    /// subreaper when its own parent exited), e.g. `sleep 100 &` of a child shell that exited.
    /// Added last, so the earlier values keep their numbers.
    left_behind,
};

/// One other handle (descriptor) that refers to the same object.
struct holder {
    std::int64_t pid{0};     ///< the process that holds it
    /// The command line, arguments joined by spaces ("[comm]" if empty); Windows: the command
    /// line if the process tells it, otherwise its executable's name.
    std::string command;
    /// The handle value in that process: the descriptor number (Linux), the HANDLE's value
    /// (Windows; the number Process Explorer shows in hex).
    std::int64_t handle{-1};
    object_end end{object_end::both};   ///< which end it holds (pipes), or both (sockets)
    relation rel{relation::unrelated};  ///< how that process is related to the inspected one
    int generations{0};      ///< distance along the parent chain: 0 self, 1 child/parent, 2 grandchild...
};

/// One pipe or Unix socket handle of the inspected process, and everyone else who holds it.
struct held_object {
    std::int64_t handle{-1};  ///< the lowest of `handles` (was `int fd`)
    /// Every handle of the inspected process that refers to this object with this end,
    /// ascending (copies are grouped: 10,000 copies of one pipe end are one object, not 10,000
    /// objects that each list the other 9,999). Was `std::vector<int> fds`.
    std::vector<std::int64_t> handles;
    object_kind kind{object_kind::pipe};  ///< a pipe, a Unix socket or a Windows named pipe end
    /// The object's identity, equal = the same object (was `inode`): the inode on Linux. On
    /// Windows an opaque number, 1, 2, ... per distinct object (pipe end), meaningful within one
    /// report only; compare `name` across reports.
    std::uint64_t object_id{0};
    /// Windows: the pipe's name, e.g. "\\Device\\NamedPipe\\tether-4242-1" (what NtQueryObject
    /// tells; both ends share it); empty if the query failed or timed out, and on Linux.
    std::string name;
    object_end end{object_end::both};  ///< the end these descriptors are (pipes), or both (sockets)
    /// Every other handle of the same pipe: in any other process that could be inspected, and
    /// in this process (relation::self) those of the other end of a pipe (its copies of the
    /// same end are in `handles`); ordered by PID, then handle. describe() shows at most a few
    /// per process and counts the rest ("and 2,997 more descriptors in PID 4242"). Windows: the
    /// copies of the same end (CompareObjectHandles) and the handles of the other end (by name).
    std::vector<holder> others;
    /// Unix sockets: the inode of the connected peer socket (the other end of a socketpair or a
    /// connection, from the kernel's sock_diag interface); 0 if there is none (any more), or it
    /// is unknown. Always 0 for pipes. Was `peer_inode`.
    std::uint64_t peer_object_id{0};
    /// Unix sockets: every descriptor of the peer socket, in this process too; ordered by PID,
    /// then handle. End-of-file on this socket needs all of them closed (or the peer shut down).
    std::vector<holder> peer_holders;
    /// Unix sockets: reading is shut down (the peer closed its end or called shutdown(SHUT_WR),
    /// or this side called shutdown(SHUT_RD)): reads return end-of-file once the data is read.
    bool read_shut_down{false};
    /// A sentence for a person, e.g. "fd 5 (read end of pipe 81234): end-of-file will not arrive
    /// while the write end is also held by PID 4242 `sleep 100` (fd 1), a grandchild"; on Windows
    /// in Windows words ("handle 0x1a4 (read end of named pipe ...): ReadFile will not fail with
    /// ERROR_BROKEN_PIPE while ..."). Empty when there is nothing to say (a pipe's write end with
    /// a reader; an unconnected socket).
    std::string verdict;
};

/// A process whose descriptors could not be read (permission denied; Windows: OpenProcess
/// with PROCESS_DUP_HANDLE refused).
struct uninspected_process {
    std::int64_t pid{0};  ///< its process id
    std::string name;  ///< its short name (/proc/PID/comm; Windows: the executable's name)
};

/// Everything holders() found.
struct holders_report {
    std::int64_t pid{0};                         ///< the inspected process
    std::string command;                         ///< the inspected process's command line
    std::vector<held_object> objects;            ///< ordered by handle
    std::vector<uninspected_process> not_inspected;  ///< ordered by PID
};

/// Lists every pipe and Unix socket `pid` holds, with every other holder of each.
/// @param pid the process to inspect (e.g. your own, to diagnose your own hang).
/// @returns the report; processes whose descriptors may not be read are listed in
///          holders_report::not_inspected, never skipped silently.
/// @throws std::system_error: std::errc::no_such_process for a PID that does not exist,
///         std::errc::permission_denied if `pid` itself may not be inspected. The message names
///         the PID.
holders_report holders(std::int64_t pid);

/// As holders(pid), for the single handle `handle` of `pid` (a descriptor number on Linux, a
/// HANDLE value on Windows: handle_to_integer(h.get()) for one of this process's own).
/// @throws std::system_error: as above; std::errc::bad_file_descriptor if `handle` is not open
///         in `pid`; errc::not_a_pipe if it is neither a pipe nor a Unix socket (the message says
///         what it is).
holders_report holders(std::int64_t pid, std::int64_t handle);

/// How many handles, in every process, refer to the same kernel object as `h`: for a pipe end,
/// how many copies of that end are open (a duplicate, a copy in a child, ... each counts once).
/// Windows: the HandleCount of NtQueryObject(ObjectBasicInformation), counted by the kernel
/// (wine 8 counts it too). A pipe's two ends are two objects: ask each end for its own count.
/// Linux has no such count per open file: use holders() there.
/// @param h an open handle of this process.
/// @returns the count, including `h` itself; std::nullopt on Linux, or if the query fails
///          (e.g. `h` is not open).
std::optional<std::size_t> open_handle_count(borrowed_handle h) noexcept;

/// This process's id, so that a program can diagnose its own hang:
/// `std::cerr << tether::describe(tether::holders(tether::this_process_id()));`
std::int64_t this_process_id() noexcept;

/// "read", "write", "both".
const char* to_string(object_end e) noexcept;
/// "pipe", "unix_socket", "named_pipe".
const char* to_string(object_kind k) noexcept;
/// "self", "child", "descendant", "parent", "ancestor", "unrelated", "left_behind".
const char* to_string(relation r) noexcept;
/// For a sentence: "this process itself", "a child", "a grandchild", "a great-grandchild",
/// "a descendant (4 generations down)", "the parent", "the grandparent", "an ancestor (3
/// generations up)", "an unrelated process", "probably left behind by a descendant ...".
std::string describe_relation(relation r, int generations);

/// The report as aligned text for a person (what `tether holders` prints), ending in a newline.
std::string describe(const holders_report& report);

}  // namespace tether
