// Linux: forward()'s hook (backend.hpp, section 2) moves a stream with splice(2), so the bytes
// never pass through our memory, and forward_options::batch_scheduling (SCHED_BATCH) keeps the
// forwarder from preempting the writer after every write.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/backend.hpp"
#include "detail/forward.hpp"
#include "unix/io.hpp"

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>

namespace tether {
namespace {

using detail::wait_ready;

// splice() on a non-blocking end says EAGAIN without telling which side: wait for both.
std::error_code wait_for_splice(int from, int to) noexcept {
    if (auto ec = wait_ready(from, POLLIN, detail::deadline::never())) return ec;
    return wait_ready(to, POLLOUT, detail::deadline::never());
}

constexpr std::size_t splice_chunk = std::size_t{1} << 20;

// forward_options::batch_scheduling: the calling thread is SCHED_BATCH for the guard's life, if
// it was SCHED_OTHER (sched_getscheduler() says so only without SCHED_RESET_ON_FORK). pid 0 is
// the calling thread, and the nice value is kept across both changes. A refused change leaves
// the thread as it was; the policy is put back only if it is still ours.
class batch_scheduling_guard {
public:
    explicit batch_scheduling_guard(bool wanted) noexcept {
        sched_param none{};
        changed_ = wanted && ::sched_getscheduler(0) == SCHED_OTHER &&
                   ::sched_setscheduler(0, SCHED_BATCH, &none) == 0;
    }
    batch_scheduling_guard(const batch_scheduling_guard&) = delete;
    batch_scheduling_guard& operator=(const batch_scheduling_guard&) = delete;
    ~batch_scheduling_guard() {
        sched_param none{};
        if (changed_ && ::sched_getscheduler(0) == SCHED_BATCH) ::sched_setscheduler(0, SCHED_OTHER, &none);
    }

private:
    bool changed_;
};

}  // namespace

// splice moves page references from or into a pipe's buffer: the bytes never pass through our
// memory. EINVAL means neither end is a pipe (or a file system without splice support): then
// the portable loop does it.
std::uint64_t detail::io_forward(native_handle from, native_handle to, const forward_options& opt,
                                 std::error_code& ec) noexcept {
    ec.clear();
    std::uint64_t done = 0;
    batch_scheduling_guard batch(opt.batch_scheduling);
    detail::sigpipe_guard guard;
    for (;;) {
        ssize_t n = ::splice(from, nullptr, to, nullptr, splice_chunk, SPLICE_F_MOVE);
        if (n > 0) {
            done += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n == 0) return done;  // end-of-file on `from`
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            if ((ec = wait_for_splice(from, to))) return done;
            continue;
        }
        if (errno == EINVAL) return done + detail::copy_to_end(borrowed_handle(from), borrowed_handle(to), ec);
        if (errno == EIO && detail::hung_up_terminal(from)) return done;  // a terminal whose session ended: end-of-file
        if (errno == EPIPE || errno == ECONNRESET) {
            guard.consume();
            ec = errc::peer_gone;
        } else {
            ec = last_os_error();
        }
        return done;
    }
}

}  // namespace tether
