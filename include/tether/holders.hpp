// tether/holders.hpp — who holds the other end of my pipe?
//
// The bug behind .NET's DisposeLocalCopyOfClientHandle is invisible: a read that never ends,
// because some copy of the pipe's write end is still open somewhere (the parent's own forgotten
// client handle, a grandchild that inherited it, ...). holders() lists, for each pipe and Unix
// socket a process holds, every other descriptor on the machine that refers to the same kernel
// object, and says in words why end-of-file will or will not arrive.
//
// Linux only for now: it reads /proc/PID/fd (which object), /proc/PID/fdinfo (which end: the
// O_ACCMODE bits of "flags") and /proc/PID/stat (parent chains). On Windows every call fails with
// errc::not_supported (the system handle table would need NtQuerySystemInformation).
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
    pipe,         ///< an anonymous pipe: "pipe:[inode]" (a named FIFO shows its path and is not listed)
    unix_socket,  ///< an AF_UNIX socket (a socketpair end, a tether channel): "socket:[inode]"
};

/// Which end of the object a descriptor is.
enum class object_end {
    read,   ///< a pipe opened O_RDONLY
    write,  ///< a pipe opened O_WRONLY
    both,   ///< a socket, or a pipe opened O_RDWR (e.g. through /proc/PID/fd/N)
};

/// How a holder is related to the inspected process (from the parent-PID chains).
enum class relation {
    self,        ///< the inspected process itself (another descriptor of its own)
    child,       ///< its child
    descendant,  ///< a grandchild or further down (see holder::generations)
    parent,      ///< its parent
    ancestor,    ///< its grandparent or further up (see holder::generations)
    unrelated,   ///< anything else, e.g. a grandchild whose parent exited (re-parented to init)
};

/// One other descriptor that refers to the same object.
struct holder {
    std::int64_t pid{0};     ///< the process that holds it
    std::string command;     ///< the command line, arguments joined by spaces ("[comm]" if empty)
    int fd{-1};              ///< its descriptor number in that process
    object_end end{object_end::both};   ///< which end it holds (pipes), or both (sockets)
    relation rel{relation::unrelated};  ///< how that process is related to the inspected one
    int generations{0};      ///< distance along the parent chain: 0 self, 1 child/parent, 2 grandchild...
};

/// One pipe or Unix socket descriptor of the inspected process, and everyone else who holds it.
struct held_object {
    int fd{-1};  ///< the lowest of `fds`
    /// Every descriptor of the inspected process that refers to this object with this end,
    /// ascending (copies are grouped: 10,000 copies of one pipe end are one object, not 10,000
    /// objects that each list the other 9,999).
    std::vector<int> fds;
    object_kind kind{object_kind::pipe};  ///< a pipe or a Unix socket
    std::uint64_t inode{0};  ///< the object's identity: equal inode = the same pipe/socket
    object_end end{object_end::both};  ///< the end these descriptors are (pipes), or both (sockets)
    /// Every other descriptor of the same object: in any other process that could be
    /// inspected, and in this process (relation::self) those of the other end of a pipe (its
    /// copies of the same end are in `fds`); ordered by PID, then fd. describe() shows at most
    /// a few per process and counts the rest ("and 2,997 more descriptors in PID 4242").
    std::vector<holder> others;
    /// Unix sockets: the inode of the connected peer socket (the other end of a socketpair or a
    /// connection, from the kernel's sock_diag interface); 0 if there is none (any more), or it
    /// is unknown. Always 0 for pipes.
    std::uint64_t peer_inode{0};
    /// Unix sockets: every descriptor of the peer socket, in this process too; ordered by PID,
    /// then fd. End-of-file on this socket needs all of them closed (or the peer shut down).
    std::vector<holder> peer_holders;
    /// Unix sockets: reading is shut down (the peer closed its end or called shutdown(SHUT_WR),
    /// or this side called shutdown(SHUT_RD)): reads return end-of-file once the data is read.
    bool read_shut_down{false};
    /// A sentence for a person, e.g. "fd 5 (read end of pipe 81234): end-of-file will not arrive
    /// while the write end is also held by PID 4242 `sleep 100` (fd 1), a grandchild". Empty when
    /// there is nothing to say (a pipe's write end with a reader; an unconnected socket).
    std::string verdict;
};

/// A process whose descriptors could not be read (permission denied).
struct uninspected_process {
    std::int64_t pid{0};  ///< its process id
    std::string name;  ///< its short name (/proc/PID/comm), readable by everyone
};

/// Everything holders() found.
struct holders_report {
    std::int64_t pid{0};                         ///< the inspected process
    std::string command;                         ///< the inspected process's command line
    std::vector<held_object> objects;            ///< ordered by fd
    std::vector<uninspected_process> not_inspected;  ///< ordered by PID
};

/// Lists every pipe and Unix socket `pid` holds, with every other holder of each.
/// @param pid the process to inspect (e.g. your own, to diagnose your own hang).
/// @returns the report; processes whose descriptors may not be read are listed in
///          holders_report::not_inspected, never skipped silently.
/// @throws std::system_error: std::errc::no_such_process for a PID that does not exist,
///         std::errc::permission_denied if `pid` itself may not be inspected, errc::not_supported
///         on Windows. The message names the PID.
holders_report holders(std::int64_t pid);

/// As holders(pid), for the single descriptor `fd` of `pid`.
/// @throws std::system_error: as above; std::errc::bad_file_descriptor if `fd` is not open in
///         `pid`; errc::not_a_pipe if it is neither a pipe nor a Unix socket (the message says
///         what it is).
holders_report holders(std::int64_t pid, int fd);

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
/// "pipe", "unix_socket".
const char* to_string(object_kind k) noexcept;
/// "self", "child", "descendant", "parent", "ancestor", "unrelated".
const char* to_string(relation r) noexcept;
/// For a sentence: "this process itself", "a child", "a grandchild", "a great-grandchild",
/// "a descendant (4 generations down)", "the parent", "the grandparent", "an ancestor (3
/// generations up)", "an unrelated process".
std::string describe_relation(relation r, int generations);

/// The report as aligned text for a person (what `tether holders` prints), ending in a newline.
std::string describe(const holders_report& report);

}  // namespace tether
