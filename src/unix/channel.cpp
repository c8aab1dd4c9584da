// POSIX backend of the channel: an AF_UNIX stream socketpair, handles as SCM_RIGHTS.
//
// Why SOCK_STREAM and not SOCK_SEQPACKET: the portable layer frames messages itself (Windows
// pipes need that anyway), and a byte stream lets one write carry many frames and one read
// return many frames (write coalescing, read buffering). SEQPACKET would cost one syscall per
// message on both sides and cap a message at the socket buffer size.
//
// Descriptors are received with MSG_CMSG_CLOEXEC (never inheritable, not even for an instant)
// and wrapped in unique_handle before anything else is looked at. MSG_NOSIGNAL keeps SIGPIPE
// away without touching signal masks or dispositions.
#include "detail/backend.hpp"
#include "detail/backend.hpp"

#include <tether/error.hpp>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace tether::detail {

struct channel_endpoint {
    unique_handle fd;
};

void channel_endpoint_deleter::operator()(channel_endpoint* e) const noexcept { delete e; }

namespace {

// The kernel's SCM_MAX_FD: the most descriptors one sendmsg may carry.
constexpr std::size_t scm_max_fd = 253;
// Room for one full SCM_RIGHTS message; a larger control message arrives truncated (MSG_CTRUNC).
constexpr std::size_t control_size = CMSG_SPACE(scm_max_fd * sizeof(int));

// A failed send: the peer gone, no room now, or an OS error.
std::error_code send_error() {
    if (errno == EPIPE || errno == ECONNRESET) return errc::peer_gone;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return errc::would_block;
    return last_os_error();
}

// The SCM_RIGHTS control message for `fds` in `buf` (which must hold control_size bytes).
void put_rights(msghdr& msg, char* buf, const std::vector<unique_handle>& fds) {
    msg.msg_control = buf;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    for (std::size_t i = 0; i < fds.size(); ++i) {
        int v = fds[i].get();
        std::memcpy(CMSG_DATA(c) + i * sizeof(int), &v, sizeof v);
    }
}

// Wraps every descriptor of every SCM_RIGHTS message at once; returns how many arrived.
std::size_t take_rights(msghdr& msg, std::deque<unique_handle>& arrived) {
    std::size_t n = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int v;
            std::memcpy(&v, CMSG_DATA(c) + i * sizeof(int), sizeof v);
            arrived.emplace_back(v);
            ++n;
        }
    }
    return n;
}

const char* socket_problem(int fd) {
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0)
        return errno == ENOTSOCK ? "not a socket" : "not an open descriptor";
    if (value != AF_UNIX) return "not an AF_UNIX socket";
    len = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0 || value != SOCK_STREAM)
        return "not a stream socket";
    return nullptr;
}

}  // namespace

std::error_code channel_make_pair(endpoint_ptr& ours, unique_handle& theirs, std::string& what) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        what = "socketpair";
        return last_os_error();
    }
    unique_handle a(fds[0]), b(fds[1]);
    ours.reset(new channel_endpoint{std::move(a)});
    theirs = std::move(b);
    return {};
}

endpoint_ptr channel_open(unique_handle&& h, std::error_code& ec, std::string& what) {
    unique_handle owned = std::move(h);  // closed on failure
    if (const char* problem = socket_problem(owned.get())) {
        ec = errc::invalid_argument;
        what = std::string(problem) + ", so not a tether channel end (an AF_UNIX stream socket)";
        return nullptr;
    }
    ec.clear();
    return endpoint_ptr(new channel_endpoint{std::move(owned)});
}

borrowed_handle channel_native(const channel_endpoint& e) noexcept { return e.fd.borrow(); }

std::error_code channel_export_handles(channel_endpoint&, std::vector<unique_handle>& handles,
                                       std::vector<std::uint64_t>& wire, std::vector<unique_handle>& out_of_band) {
    for (auto& h : handles) {
        wire.push_back(0);  // the descriptor itself travels as SCM_RIGHTS
        out_of_band.push_back(std::move(h));
    }
    handles.clear();
    return {};
}

std::error_code channel_push_handles(channel_endpoint&, std::span<const unique_handle>, std::span<std::uint64_t>) {
    return {};  // the descriptors travel with the bytes (SCM_RIGHTS)
}

void channel_unexport(channel_endpoint&, std::span<const std::uint64_t>, std::vector<unique_handle>& out_of_band) noexcept {
    out_of_band.clear();  // our own copies: nothing of them is in the peer
}

std::size_t channel_max_out_of_band() noexcept { return scm_max_fd; }

// A small frame without descriptors goes out with one plain send() from a stack copy: the
// ping-pong case, where sendmsg's msghdr and iovec handling is measurable against a raw write.
// nullopt = not small (the caller's general path then goes on).
std::optional<std::size_t> send_small(channel_endpoint& e, std::span<const std::span<const std::byte>> parts,
                                      std::error_code& ec) {
    constexpr std::size_t small_limit = 512;
    std::array<std::byte, small_limit> buf;
    std::size_t total = 0;
    for (auto p : parts) {
        if (total + p.size() > small_limit) return std::nullopt;
        if (!p.empty()) std::memcpy(buf.data() + total, p.data(), p.size());
        total += p.size();
    }
    ssize_t n;
    while ((n = ::send(e.fd.get(), buf.data(), total, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {
    }
    if (n >= 0) {
        ec.clear();
        return static_cast<std::size_t>(n);
    }
    ec = send_error();
    return 0;
}

std::size_t channel_write_some(channel_endpoint& e, std::span<const std::span<const std::byte>> parts,
                               std::vector<unique_handle>& out_of_band, std::error_code& ec) {
    if (out_of_band.empty()) {
        if (auto n = send_small(e, parts, ec)) return *n;
    }
    std::array<iovec, max_write_parts> iovs;  // no allocation per message
    if (parts.size() > iovs.size()) {
        ec = errc::invalid_argument;
        return 0;
    }
    std::size_t count = 0;
    for (auto p : parts)
        if (!p.empty()) iovs[count++] = {const_cast<std::byte*>(p.data()), p.size()};  // NOLINT: sendmsg takes non-const
    alignas(cmsghdr) char control[control_size];
    msghdr msg{};
    msg.msg_iov = iovs.data();
    msg.msg_iovlen = count;
    if (!out_of_band.empty()) put_rights(msg, control, out_of_band);
    ssize_t n;
    while ((n = ::sendmsg(e.fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {
    }
    if (n < 0) {
        ec = send_error();
        return 0;
    }
    // The descriptors went with the first bytes: the kernel holds its own references now.
    out_of_band.clear();
    ec.clear();
    return static_cast<std::size_t>(n);
}

bool channel_writing(const channel_endpoint&) noexcept { return false; }

std::size_t channel_read_some(channel_endpoint& e, std::span<std::byte> buf, std::deque<unique_handle>& arrived,
                              std::error_code& ec) {
    alignas(cmsghdr) char control[control_size];
    for (;;) {
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(e.fd.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n >= 0) {
            std::size_t got = take_rights(msg, arrived);
            if (msg.msg_flags & MSG_CTRUNC) {
                // More descriptors than fit: the kernel closed the rest. Close what came too.
                arrived.erase(arrived.end() - static_cast<std::ptrdiff_t>(got), arrived.end());
                ec = errc::protocol_error;
                return 0;
            }
            ec.clear();
            return static_cast<std::size_t>(n);
        }
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) {  // the peer closed with data of ours unread: end-of-file
            ec.clear();
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            ec = errc::would_block;
        } else {
            ec = last_os_error();
        }
        return 0;
    }
}

std::error_code channel_wait(channel_endpoint& e, bool want_read, bool want_write, const deadline& d) {
    short events = static_cast<short>((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0));
    for (;;) {
        pollfd p{e.fd.get(), events, 0};
        int n = ::poll(&p, 1, d.poll_timeout());
        if (n > 0) return {};  // ready, hung up or in error: the next call says which
        if (n == 0) return errc::timed_out;
        if (errno != EINTR) return last_os_error();
    }
}

source_watch channel_arm(channel_endpoint& e, bool want_write) noexcept {
    source_watch w{e.fd.get(), watch_read, invalid_native_handle(), 0};
    if (want_write) w.writable = e.fd.get(), w.write_how = watch_write;
    return w;
}

std::error_code channel_import_handles(channel_endpoint&, std::span<const std::uint64_t> wire,
                                       std::deque<unique_handle>& arrived, std::vector<unique_handle>& out) {
    if (arrived.size() < wire.size()) return errc::protocol_error;  // announced, never sent
    for (std::size_t i = 0; i < wire.size(); ++i) {
        out.push_back(std::move(arrived.front()));
        arrived.pop_front();
    }
    return {};
}

}  // namespace tether::detail
