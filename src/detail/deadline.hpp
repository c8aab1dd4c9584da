// Internal, portable: the one deadline type behind every timed call (read_for, write_all_for,
// read_to_end_for, receive_for, wait_for, poller::wait).
//
// Why one type: `now() + timeout` overflows for a timeout near milliseconds::max() (signed
// overflow, UB; in practice a deadline in the past, so the call times out at once). Every
// conversion from a user's timeout goes through after(), which saturates: any timeout longer
// than ~200 years means "no limit", and a negative one means "now". Waiting primitives ask for
// the time left in the unit they take, already clamped (poll's int milliseconds, Win32's
// DWORD below INFINITE).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>

namespace tether::detail {

class deadline {
public:
    using clock = std::chrono::steady_clock;

    /// No limit: waits forever.
    static deadline never() noexcept { return deadline(); }
    /// Already passed: a non-blocking attempt.
    static deadline now() noexcept { return deadline(clock::now()); }
    /// `timeout` from now; negative = now, beyond ~200 years = never.
    static deadline after(std::chrono::milliseconds timeout) noexcept {
        constexpr std::chrono::milliseconds forever = std::chrono::hours(24 * 365 * 200);
        if (timeout >= forever) return never();
        return deadline(clock::now() + std::max(timeout, std::chrono::milliseconds(0)));
    }
    static deadline at(clock::time_point t) noexcept { return deadline(t); }

    [[nodiscard]] bool is_never() const noexcept { return never_; }
    [[nodiscard]] bool expired() const noexcept { return !never_ && clock::now() >= at_; }
    [[nodiscard]] clock::time_point time_point() const noexcept { return never_ ? clock::time_point::max() : at_; }

    /// The earlier of two deadlines.
    [[nodiscard]] deadline earlier(const deadline& o) const noexcept {
        if (never_) return o;
        if (o.never_) return *this;
        return at_ <= o.at_ ? *this : o;
    }

    /// Time left in whole milliseconds, rounded up (so a wait never wakes just before the
    /// deadline and spins), clamped to [0, cap]; `forever` for never().
    template <class Int>
    [[nodiscard]] Int remaining_ms(Int forever, Int cap) const noexcept {
        if (never_) return forever;
        auto left = std::chrono::ceil<std::chrono::milliseconds>(at_ - clock::now()).count();
        if (left <= 0) return 0;
        return static_cast<std::uint64_t>(left) >= static_cast<std::uint64_t>(cap) ? cap : static_cast<Int>(left);
    }
    /// For poll()/epoll_wait(): -1 = forever.
    [[nodiscard]] int poll_timeout() const noexcept { return remaining_ms<int>(-1, std::numeric_limits<int>::max()); }
    /// The time left as a timeout for a public call (milliseconds::max() for never()).
    [[nodiscard]] std::chrono::milliseconds remaining() const noexcept {
        if (never_) return std::chrono::milliseconds::max();
        return std::chrono::milliseconds(remaining_ms<std::int64_t>(0, std::numeric_limits<std::int64_t>::max()));
    }

private:
    deadline() noexcept = default;
    explicit deadline(clock::time_point t) noexcept : at_(t), never_(false) {}
    clock::time_point at_{};
    bool never_{true};
};

}  // namespace tether::detail
