// Reads tied to a child (tether/tied.hpp): one poller watches the pipe end and the child, so
// the read wakes for data, end-of-file or the child's exit, and never outlives the exit by
// more than the grace.
#include <tether/tied.hpp>

#include <tether/error.hpp>
#include <tether/pipe.hpp>
#include <tether/poller.hpp>

#include "detail/deadline.hpp"
#include "detail/held_open.hpp"

#include <array>
#include <vector>

namespace tether {
namespace {

constexpr std::uint64_t pipe_token = 1, child_token = 2;

// Appends what is there now to `out`. @returns true at end-of-file; `ec` for an error.
bool drain(borrowed_handle h, std::string& out, std::error_code& ec) {
    std::array<std::byte, 65536> buf;
    for (;;) {
        std::error_code rec;
        auto n = try_read(h, buf, rec);
        if (rec == errc::would_block) return false;
        if (rec) {
            ec = rec;
            return false;
        }
        if (n == 0) return true;
        out.append(reinterpret_cast<const char*>(buf.data()), n);
    }
}

std::string who_started(const child& c) { return "child " + std::to_string(c.pid()) + " (which exited)"; }

}  // namespace

std::string read_to_end(borrowed_handle h, child& c, milliseconds grace, std::error_code& ec, std::string& who) {
    std::string out;
    who.clear();
    if (!c || grace.count() < 0) {
        ec = errc::invalid_argument;
        who = !c ? "read_to_end: the child is empty" : "read_to_end: grace " + std::to_string(grace.count()) + " ms is negative";
        return out;
    }
    ec.clear();
    poller p;
    p.add(h, interest::read, pipe_token);
    bool exited = c.try_wait().has_value();
    if (!exited) p.add(c, child_token);
    auto eof = exited ? detail::deadline::after(grace) : detail::deadline::never();
    std::vector<poll_event> events;
    for (;;) {
        p.wait(events, eof.remaining());
        for (const auto& e : events)
            if (e.what == poll_event::kind::exited && !exited) {
                exited = true;
                eof = detail::deadline::after(grace);
            }
        if (drain(h, out, ec) || ec) return out;
        if (exited && eof.expired()) {
            ec = errc::held_open;
            who = detail::describe_held_open(h, "the pipe", who_started(c)).verdict;
            return out;
        }
    }
}

std::string read_to_end(borrowed_handle h, child& c, milliseconds grace) {
    std::error_code ec;
    std::string who;
    auto out = read_to_end(h, c, grace, ec, who);
    if (ec) throw_error(ec, "read_to_end tied to child " + std::to_string(c.pid()) + (who.empty() ? "" : ": " + who));
    return out;
}

}  // namespace tether
