// Internal: the readiness "reactor" each backend provides to the portable poller
// (src/poller.cpp). Same names in both backends.
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
#pragma once

#include <tether/handle.hpp>

#include "detail/deadline.hpp"

#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

namespace tether::detail {

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

}  // namespace tether::detail
