// tether/lines.hpp — a child's output line by line, with a bound on a line's length.
//
//     tether::line_reader lines(c.take_stdout());          // any readable handle
//     while (auto line = lines.next()) use(*line);          // "\n" and a "\r" before it removed
//
// Wherever output arrives in chunks instead (a poller's readable pipe end read with try_read(),
// run()'s on_stdout, an Asio read handler), a line_splitter cuts the same lines out of them:
//
//     tether::line_splitter split;
//     split.feed(chunk, [](std::string_view line) { use(line); });   // for each chunk
//     split.finish([](std::string_view line) { use(line); });        // at end-of-file
//
// What a line is. Bytes up to a '\n', without it; a '\r' right before the '\n' is removed too
// ("\r\n", as Windows programs write and as Python's universal newlines read it); a lone '\r'
// stays. The last line is delivered even without a final '\n'; an empty input has no line.
// A line longer than `max_line` bytes (the '\n' not counted) is errc::line_too_long, after at
// most max_line bytes of it were held: memory never grows with a line that has no end.
#pragma once

#include <tether/error.hpp>
#include <tether/handle.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace tether {

/// The default bound on one line: 1 MiB.
inline constexpr std::size_t default_max_line = std::size_t{1} << 20;

/// Cuts lines out of chunks of bytes (see the header comment). Not synchronised.
class line_splitter {
public:
    /// @param max_line the longest line accepted, in bytes (at least 1).
    /// @throws std::system_error errc::invalid_argument for a max_line of 0.
    explicit line_splitter(std::size_t max_line = default_max_line);

    /// Calls `on_line(std::string_view)` for each line `chunk` completes, in order; keeps the
    /// unfinished rest. A line view is valid only during its call.
    /// @returns errc::line_too_long once the unfinished line passes max_line (the splitter then
    ///          delivers nothing more; its held bytes are dropped), else no error.
    template <class OnLine>
    std::error_code feed(std::string_view chunk, OnLine&& on_line) {
        if (failed_) return make_error_code(errc::line_too_long);
        while (!chunk.empty()) {
            auto nl = chunk.find('\n');
            if (nl == std::string_view::npos) return hold(chunk);
            if (held_.empty()) {
                on_line(without_cr(chunk.substr(0, nl)));  // the common case: no copy
            } else {
                if (auto ec = hold(chunk.substr(0, nl))) return ec;
                on_line(without_cr(held_));
                held_.clear();
            }
            chunk.remove_prefix(nl + 1);
        }
        return {};
    }
    /// As above, for bytes.
    template <class OnLine>
    std::error_code feed(std::span<const std::byte> chunk, OnLine&& on_line) {
        return feed(std::string_view(reinterpret_cast<const char*>(chunk.data()), chunk.size()),  // NOLINT
                    std::forward<OnLine>(on_line));
    }
    /// End of input: delivers the last line if it had no newline (without a carriage return at
    /// its end).
    template <class OnLine>
    void finish(OnLine&& on_line) {
        if (!failed_ && !held_.empty()) on_line(without_cr(held_));
        held_.clear();
    }

    /// `line` without one carriage return at its end.
    static std::string_view without_cr(std::string_view line) noexcept {
        return !line.empty() && line.back() == '\r' ? line.substr(0, line.size() - 1) : line;
    }

    /// Bytes of an unfinished line held now.
    [[nodiscard]] std::size_t pending() const noexcept { return held_.size(); }
    /// The bound given at construction.
    [[nodiscard]] std::size_t max_line() const noexcept { return max_; }

private:
    std::error_code hold(std::string_view part);  // appends to held_, bounded by max_

    std::string held_;  // the unfinished line
    std::size_t max_;
    bool failed_{false};
};

/// Reads lines from a handle (see the header comment). It borrows the handle, which must stay
/// open while the reader is used; it reads in chunks of 64 KiB, so bytes after the last line it
/// returned may already sit in its buffer. Not synchronised.
class line_reader {
public:
    /// @param h a readable pipe end (or any handle read() accepts).
    /// @param max_line the longest line accepted, in bytes (at least 1).
    /// @throws std::system_error errc::invalid_argument for a max_line of 0.
    explicit line_reader(borrowed_handle h, std::size_t max_line = default_max_line);
    line_reader(line_reader&&) noexcept;             ///< takes over the reader, its buffer included
    line_reader& operator=(line_reader&&) noexcept;  ///< as the move constructor
    ~line_reader();                                  ///< frees the buffer; the handle stays open

    /// The next line, or nullopt at end-of-file. The view is valid until the next call.
    /// @throws std::system_error: errc::line_too_long naming the limit, or read()'s errors
    ///         naming the handle.
    std::optional<std::string_view> next();
    /// As above; failure in `ec` (and nullopt).
    std::optional<std::string_view> next(std::error_code& ec);

private:
    struct state;
    std::unique_ptr<state> s_;
};

}  // namespace tether
