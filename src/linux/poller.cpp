// POSIX backend of the poller's reactor: one epoll instance, level-triggered, over descriptors
// and pidfds (a pidfd polls readable once its process has ended; Linux 5.3).
//
// Level-triggered on purpose: the portable layer reads a channel until EAGAIN but a user may
// read a pipe end only partly after `readable`; with level triggering nothing is ever lost
// between two waits, and a watch needs no re-arming.
#include "detail/backend.hpp"

#include <tether/error.hpp>

#include <array>
#include <cerrno>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tether::detail {

struct reactor {
    unique_handle epoll;
};

void reactor_deleter::operator()(reactor* r) const noexcept { delete r; }

namespace {

std::uint32_t epoll_events(unsigned what) {
    std::uint32_t ev = 0;
    if (what & (watch_read | watch_process | watch_object)) ev |= EPOLLIN;
    if (what & watch_write) ev |= EPOLLOUT;
    return ev;  // EPOLLHUP and EPOLLERR are always reported
}

unsigned ready_of(std::uint32_t ev) {
    unsigned r = 0;
    if (ev & EPOLLIN) r |= ready_read | ready_signalled;
    if (ev & EPOLLOUT) r |= ready_write;
    if (ev & (EPOLLHUP | EPOLLRDHUP)) r |= ready_hangup;
    if (ev & EPOLLERR) r |= ready_error;
    return r;
}

}  // namespace

bool reactor_process_ended(native_handle process) noexcept {
    // WNOWAIT leaves the child a zombie (and its pidfd open): the reap is still the owner's.
    siginfo_t si{};
    constexpr int p_pidfd = 3;  // P_PIDFD (Linux 5.4); EINVAL before: "cannot tell"
    if (::waitid(static_cast<idtype_t>(p_pidfd), static_cast<id_t>(process), &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return false;
    return si.si_pid != 0;
}

reactor_ptr reactor_create(std::error_code& ec) {
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        ec = last_os_error();
        return nullptr;
    }
    ec.clear();
    return reactor_ptr(new reactor{unique_handle(fd)});
}

std::error_code reactor_watch(reactor& r, std::uint64_t key, native_handle h, unsigned what, bool modify) {
    epoll_event ev{};
    ev.events = epoll_events(what);
    ev.data.u64 = key;
    if (::epoll_ctl(r.epoll.get(), modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, h, &ev) == 0) return {};
    // EPERM: a regular file (always ready, not pollable); EBADF: not an open descriptor (ours,
    // the epoll one, is open as long as the reactor).
    if (errno == EPERM || errno == EBADF) return make_error_code(tether::errc::invalid_argument);
    return last_os_error();
}

void reactor_unwatch(reactor& r, std::uint64_t, native_handle h) noexcept {
    // EBADF / ENOENT: the descriptor is closed already, and epoll forgot it with its file.
    (void)::epoll_ctl(r.epoll.get(), EPOLL_CTL_DEL, h, nullptr);
}

std::error_code reactor_wait(reactor& r, const deadline& d, std::vector<reactor_ready>& out) {
    std::array<epoll_event, 256> evs;
    for (;;) {
        int n = ::epoll_wait(r.epoll.get(), evs.data(), static_cast<int>(evs.size()), d.poll_timeout());
        if (n >= 0) {
            for (int k = 0; k < n; ++k) out.push_back({evs[k].data.u64, ready_of(evs[k].events)});
            return {};
        }
        if (errno != EINTR) return last_os_error();
        if (d.expired()) return {};
    }
}

}  // namespace tether::detail
