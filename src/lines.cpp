// Portable: lines out of a byte stream, with a bound on a line's length (tether/lines.hpp).
#include <tether/error.hpp>
#include <tether/lines.hpp>
#include <tether/pipe.hpp>

#include "detail/backend.hpp"

#include <cstring>
#include <vector>

namespace tether {
namespace {

constexpr std::size_t read_chunk = std::size_t{64} << 10;

void check_max(std::size_t max_line) {
    if (max_line == 0) throw_error(errc::invalid_argument, "line reader: max_line must be at least 1 byte (got 0)");
}

}  // namespace

line_splitter::line_splitter(std::size_t max_line) : max_(max_line) { check_max(max_line); }

std::error_code line_splitter::hold(std::string_view part) {
    if (part.size() > max_ - std::min(max_, held_.size())) {
        failed_ = true;
        held_.clear();
        held_.shrink_to_fit();
        return make_error_code(errc::line_too_long);
    }
    held_.append(part);
    return {};
}

// The reader keeps one buffer: [begin, end) not yet returned, of which [begin, scanned) is
// known to hold no '\n'. A line is returned as a view into it, so a line costs one memchr.
struct line_reader::state {
    borrowed_handle h;
    std::size_t max;
    std::vector<char> buf;
    std::size_t begin{0}, end{0}, scanned{0};
    bool eof{false}, failed{false};
};

line_reader::line_reader(borrowed_handle h, std::size_t max_line) : s_(std::make_unique<state>()) {
    check_max(max_line);
    s_->h = h;
    s_->max = max_line;
}

line_reader::line_reader(line_reader&&) noexcept = default;
line_reader& line_reader::operator=(line_reader&&) noexcept = default;
line_reader::~line_reader() = default;

namespace {

// Makes room for one more read after [begin, end): moves the unfinished line to the front.
void make_room(std::vector<char>& buf, std::size_t& begin, std::size_t& end, std::size_t& scanned) {
    if (begin > 0) {
        std::memmove(buf.data(), buf.data() + begin, end - begin);
        end -= begin;
        scanned -= begin;
        begin = 0;
    }
    if (buf.size() < end + read_chunk) buf.resize(end + read_chunk);
}

}  // namespace

std::optional<std::string_view> line_reader::next(std::error_code& ec) {
    ec.clear();
    auto& s = *s_;
    if (s.failed) {
        ec = errc::line_too_long;
        return std::nullopt;
    }
    for (;;) {
        const char* base = s.buf.data();  // null before the first read: memchr gets no null
        const void* nl = s.end > s.scanned ? std::memchr(base + s.scanned, '\n', s.end - s.scanned) : nullptr;
        if (nl != nullptr) {
            auto at = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
            std::string_view line(base + s.begin, at - s.begin);
            s.begin = s.scanned = at + 1;
            if (line.size() <= s.max) return line_splitter::without_cr(line);
            s.failed = true;
            ec = errc::line_too_long;
            return std::nullopt;
        }
        s.scanned = s.end;
        if (s.end - s.begin > s.max) {  // no '\n' within max_line bytes: never hold more
            s.failed = true;
            ec = errc::line_too_long;
            return std::nullopt;
        }
        if (s.eof) {
            if (s.begin == s.end) return std::nullopt;
            std::string_view last(base + s.begin, s.end - s.begin);
            s.begin = s.scanned = s.end;
            return line_splitter::without_cr(last);
        }
        make_room(s.buf, s.begin, s.end, s.scanned);
        auto n = read(s.h, std::as_writable_bytes(std::span(s.buf.data() + s.end, read_chunk)), ec);
        if (ec) return std::nullopt;
        s.end += n;
        s.eof = n == 0;
    }
}

std::optional<std::string_view> line_reader::next() {
    std::error_code ec;
    auto line = next(ec);
    if (ec == errc::line_too_long)
        throw_error(ec, "line_reader: a line longer than " + std::to_string(s_->max) + " bytes (max_line)");
    if (ec) throw_error(ec, "line_reader: read on " + detail::describe_handle(s_->h.get()));
    return line;
}

}  // namespace tether
