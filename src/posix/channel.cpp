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
#include "detail/channel_backend.hpp"

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

std::error_code wait_for(int fd, short events, deadline_t deadline) {
    for (;;) {
        int ms = -1;
        if (deadline) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now()).count();
            ms = left <= 0 ? 0 : (left > INT_MAX ? INT_MAX : static_cast<int>(left));
        }
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, ms);
        if (n > 0) return {};  // ready, hung up or in error: the next call says which
        if (n == 0) return errc::timed_out;
        if (errno != EINTR) return last_os_error();
    }
}

// Drops the first `n` bytes from the iovec array (after a short write).
void advance(iovec*& iov, std::size_t& count, std::size_t n) {
    while (count > 0 && n >= iov->iov_len) {
        n -= iov->iov_len;
        ++iov;
        --count;
    }
    if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + n;
        iov->iov_len -= n;
    }
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

std::error_code channel_make_pair(endpoint_ptr& ours, unique_handle& theirs) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return last_os_error();
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

std::size_t channel_max_out_of_band() noexcept { return scm_max_fd; }

// A small frame without descriptors goes out with one plain send() from a stack copy: the
// ping-pong case, where sendmsg's msghdr and iovec handling is measurable against a raw write.
// nullopt = not small, or not all sent at once (the caller's general loop then goes on).
std::optional<std::error_code> send_small(channel_endpoint& e, iovec*& iovs, std::size_t& count) {
    constexpr std::size_t small_limit = 512;
    std::array<std::byte, small_limit> buf;
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) {
        if (total + iovs[i].iov_len > small_limit) return std::nullopt;
        std::memcpy(buf.data() + total, iovs[i].iov_base, iovs[i].iov_len);
        total += iovs[i].iov_len;
    }
    ssize_t n;
    while ((n = ::send(e.fd.get(), buf.data(), total, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {
    }
    if (n == static_cast<ssize_t>(total)) return std::error_code{};
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return make_error_code(errc::peer_gone);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return last_os_error();
    if (n > 0) advance(iovs, count, static_cast<std::size_t>(n));  // the rest by the general path
    return std::nullopt;
}

std::error_code channel_write(channel_endpoint& e, std::span<const std::span<const std::byte>> parts,
                              std::vector<unique_handle>& out_of_band) {
    std::array<iovec, max_write_parts> iovs;  // no allocation per message
    if (parts.size() > iovs.size()) return errc::invalid_argument;
    std::size_t count = 0;
    for (auto p : parts)
        if (!p.empty()) iovs[count++] = {const_cast<std::byte*>(p.data()), p.size()};  // NOLINT: sendmsg takes non-const
    iovec* iov = iovs.data();
    if (out_of_band.empty()) {
        if (auto small = send_small(e, iov, count)) return *small;
    }
    alignas(cmsghdr) char control[control_size];
    msghdr msg{};
    if (!out_of_band.empty()) put_rights(msg, control, out_of_band);
    std::error_code ec;
    while (count > 0) {
        msg.msg_iov = iov;
        msg.msg_iovlen = count;
        ssize_t n = ::sendmsg(e.fd.get(), &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking socket from the user
                if ((ec = wait_for(e.fd.get(), POLLOUT, std::nullopt))) break;
                continue;
            }
            ec = (errno == EPIPE || errno == ECONNRESET) ? make_error_code(errc::peer_gone) : last_os_error();
            break;
        }
        // The descriptors went with the first bytes: the kernel holds its own references now.
        msg.msg_control = nullptr;
        msg.msg_controllen = 0;
        advance(iov, count, static_cast<std::size_t>(n));
    }
    out_of_band.clear();  // our copies: in flight already, or undeliverable
    return ec;
}

std::size_t channel_read(channel_endpoint& e, std::span<std::byte> buf, std::deque<unique_handle>& arrived,
                         deadline_t deadline, std::error_code& ec) {
    alignas(cmsghdr) char control[control_size];
    for (;;) {
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(e.fd.get(), &msg, MSG_CMSG_CLOEXEC | (deadline ? MSG_DONTWAIT : 0));
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
            return 0;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            ec = last_os_error();
            return 0;
        }
        if ((ec = wait_for(e.fd.get(), POLLIN, deadline))) return 0;
    }
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
