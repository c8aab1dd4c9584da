// Portable: reads tied to a child (tether/tied.hpp). One poller watches the pipe end and the
// child, so a read wakes for data, end-of-file or the child's exit; once the grace after the
// exit is over and the pipe's other end is still open somewhere, the read ends with
// errc::held_open and the holders are named. Every tied read is a loop over next_tied().
#include <tether/tied.hpp>

#include <tether/error.hpp>
#include <tether/poller.hpp>

#include "detail/backend.hpp"
#include "detail/deadline.hpp"
#include "detail/held_open.hpp"

#include <optional>
#include <vector>

namespace tether {
namespace {

constexpr std::uint64_t pipe_token = 1, child_token = 2;

// What is wrong with the arguments of a tied read named `fn`; empty when nothing is.
std::string bad_tie(const child& c, milliseconds grace, const char* fn) {
    if (!c) return std::string(fn) + ": the child is empty";
    if (grace.count() < 0) return std::string(fn) + ": grace " + std::to_string(grace.count()) + " ms is negative";
    return {};
}

// A pipe end and the child it was made for, watched together; keeps the grace that follows the
// child's exit. Lives where it was made: the poller borrows the child.
class exit_bound {
public:
    exit_bound(borrowed_handle h, child& c, milliseconds grace) : h_(h), c_(c), grace_(grace) {
        p_.add(h, interest::read, pipe_token);
        if (c.try_wait())
            seen_exit();
        else
            p_.add(c, child_token);
    }

    // Waits for the pipe, the child's exit or the end of the grace, at most until `until`.
    std::error_code wait(const detail::deadline& until) {
        std::error_code ec;
        p_.wait(events_, until.earlier(end_).remaining(), ec);
        for (const auto& e : events_)
            if (e.token == child_token && !exited_) seen_exit();  // exited, or failed: reaped elsewhere
        return ec;
    }

    // The verdict is due: the grace is over and another process still holds the other end.
    // Once every copy is closed the rest is read to end-of-file, however long that takes.
    [[nodiscard]] bool held_open() const noexcept {
        return exited_ && end_.expired() && detail::pipe_peer_open(h_.get());
    }

    [[nodiscard]] std::string held_by() const {
        return detail::describe_held_open(h_, "the pipe", "child " + std::to_string(c_.pid()) + " (which exited)").verdict;
    }

private:
    void seen_exit() noexcept {
        exited_ = true;
        end_ = detail::deadline::after(grace_);
    }

    borrowed_handle h_;
    child& c_;
    milliseconds grace_;
    poller p_;
    bool exited_{false};
    detail::deadline end_{detail::deadline::never()};
    std::vector<poll_event> events_;
};

// The next chunk of a tied read: data; empty with `ec` clear at end-of-file; errc::held_open
// when the verdict is due; errc::timed_out at `until`. The verdict comes before a read, so a
// holder that keeps writing cannot keep the read going past the grace.
std::span<const std::byte> next_tied(chunk_reader& r, exit_bound& b, const detail::deadline& until, std::error_code& ec) {
    for (;;) {
        if (b.held_open()) {
            ec = errc::held_open;
            return {};
        }
        auto chunk = r.try_next(ec);
        if (ec != errc::would_block) return chunk;
        ec = until.expired() ? make_error_code(errc::timed_out) : b.wait(until);
        if (ec) return {};
    }
}

// A tied read's reader and watch, or why there are none (in `ec` and `who`).
struct tied_read {
    std::optional<chunk_reader> reader;
    std::optional<exit_bound> bound;

    tied_read(borrowed_handle h, child& c, milliseconds grace, const char* fn, std::error_code& ec, std::string& who) {
        who = bad_tie(c, grace, fn);
        if (!who.empty()) {
            ec = errc::invalid_argument;
            return;
        }
        try {
            reader.emplace(h);
            bound.emplace(h, c, grace);
            ec.clear();
        } catch (const std::system_error& e) {
            ec = e.code();
            who = e.what();
        }
    }
};

// Reads to end-of-file or the verdict, until `until`, appending to `out`.
std::string read_tied(borrowed_handle h, child& c, const detail::deadline& until, milliseconds grace,
                      const char* fn, std::error_code& ec, std::string& who) {
    std::string out;
    tied_read t(h, c, grace, fn, ec, who);
    if (ec) return out;
    for (;;) {
        auto chunk = next_tied(*t.reader, *t.bound, until, ec);
        if (chunk.empty()) break;
        out.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());  // NOLINT: bytes to chars
    }
    if (ec == errc::held_open) who = t.bound->held_by();
    return out;
}

[[noreturn]] void throw_tied(std::error_code ec, const std::string& fn, const child& c, const std::string& who) {
    throw_error(ec, fn + " tied to child " + std::to_string(c.pid()) + (who.empty() ? "" : ": " + who));
}

}  // namespace

std::string read_to_end(borrowed_handle h, child& c, milliseconds grace, std::error_code& ec, std::string& who) {
    return read_tied(h, c, detail::deadline::never(), grace, "read_to_end", ec, who);
}

std::string read_to_end(borrowed_handle h, child& c, milliseconds grace) {
    std::error_code ec;
    std::string who;
    auto out = read_to_end(h, c, grace, ec, who);
    if (ec) throw_tied(ec, "read_to_end", c, who);
    return out;
}

std::string read_to_end_for(borrowed_handle h, child& c, milliseconds timeout, milliseconds grace,
                            std::error_code& ec, std::string& who) {
    return read_tied(h, c, detail::deadline::after(timeout), grace, "read_to_end_for", ec, who);
}

std::string read_to_end_for(borrowed_handle h, child& c, milliseconds timeout, milliseconds grace) {
    std::error_code ec;
    std::string who;
    auto out = read_to_end_for(h, c, timeout, grace, ec, who);
    if (ec == errc::timed_out)
        who = "no end-of-file within " + std::to_string(timeout.count()) + " ms (" + std::to_string(out.size()) +
              " bytes had arrived)";
    if (ec) throw_tied(ec, "read_to_end_for", c, who);
    return out;
}

std::uint64_t forward(borrowed_handle from, borrowed_handle to, child& c, milliseconds grace, std::error_code& ec,
                      std::string& who) {
    std::uint64_t moved = 0;
    tied_read t(from, c, grace, "forward", ec, who);
    if (ec) return moved;
    for (;;) {
        auto chunk = next_tied(*t.reader, *t.bound, detail::deadline::never(), ec);
        if (chunk.empty()) break;
        moved += write_all(to, chunk, ec);
        if (ec) return moved;
    }
    if (ec == errc::held_open) who = t.bound->held_by();
    return moved;
}

std::uint64_t forward(borrowed_handle from, borrowed_handle to, child& c, milliseconds grace) {
    std::error_code ec;
    std::string who;
    auto moved = forward(from, to, c, grace, ec, who);
    if (ec) {
        auto what = "forward from " + to_handle_string(from) + " to " + to_handle_string(to);
        throw_tied(ec, what, c, who.empty() ? std::to_string(moved) + " bytes moved" : who);
    }
    return moved;
}

// ---- tied_chunk_reader

struct tied_chunk_reader::state {
    state(borrowed_handle h, child& c, milliseconds grace, std::size_t buffer_size)
        : reader(h, buffer_size), bound(h, c, grace) {}
    chunk_reader reader;
    exit_bound bound;
    std::string held_by;
};

tied_chunk_reader::tied_chunk_reader(borrowed_handle h, child& c, milliseconds grace, std::size_t buffer_size) {
    if (auto bad = bad_tie(c, grace, "tied_chunk_reader"); !bad.empty()) throw_error(errc::invalid_argument, bad);
    s_ = std::make_unique<state>(h, c, grace, buffer_size);
}

tied_chunk_reader::tied_chunk_reader(tied_chunk_reader&&) noexcept = default;
tied_chunk_reader& tied_chunk_reader::operator=(tied_chunk_reader&&) noexcept = default;
tied_chunk_reader::~tied_chunk_reader() = default;

std::span<const std::byte> tied_chunk_reader::next(std::error_code& ec) {
    auto chunk = next_tied(s_->reader, s_->bound, detail::deadline::never(), ec);
    if (ec == errc::held_open && s_->held_by.empty()) s_->held_by = s_->bound.held_by();
    return chunk;
}

std::span<const std::byte> tied_chunk_reader::next() {
    std::error_code ec;
    auto chunk = next(ec);
    if (ec) throw_error(ec, "tied_chunk_reader: " + (s_->held_by.empty() ? "read" : s_->held_by));
    return chunk;
}

const std::string& tied_chunk_reader::held_by() const noexcept { return s_->held_by; }

std::size_t tied_chunk_reader::buffer_size() const noexcept { return s_->reader.buffer_size(); }

}  // namespace tether
