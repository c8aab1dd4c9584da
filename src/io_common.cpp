// Portable: every read/write/forward overload and ignore_sigpipe(), over the backend's I/O
// hooks (backend.hpp, section 2): empty buffers, the error_code overloads' deadlines, the
// throwing overloads' messages and the conveniences built on them.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/deadline.hpp"
#include "detail/backend.hpp"
#include "detail/forward.hpp"

#include <algorithm>
#include <chrono>
#include <new>

namespace tether {
namespace {
// "read on descriptor 4", and which end it is when that is the mistake.
std::string describe(const char* op, borrowed_handle h, std::error_code ec = {}) {
    auto text = std::string(op) + " on " + detail::describe_handle(h.get());
    if (ec == errc::wrong_direction)
        text += std::string_view(op).starts_with("write") ? " (a read end: write to the pipe's other end)"
                                                          : " (a write end: read from the pipe's other end)";
    return text;
}

// An empty buffer never reaches the backend: no zero-byte write is ever issued (on a Windows
// pipe one would end the reader's read with 0 bytes, which it would take for end-of-file), and
// an empty read returns at once, as POSIX read() does.
bool nothing_to_move(std::size_t size, std::error_code& ec) noexcept {
    if (size != 0) return false;
    ec.clear();
    return true;
}
}  // namespace

// The error_code overloads.

std::size_t read(borrowed_handle h, std::span<std::byte> buf, std::error_code& ec) noexcept {
    if (nothing_to_move(buf.size(), ec)) return 0;
    return detail::io_read(h.get(), buf, detail::deadline::never(), ec);
}

std::size_t read_for(borrowed_handle h, std::span<std::byte> buf, milliseconds timeout,
                     std::error_code& ec) noexcept {
    if (nothing_to_move(buf.size(), ec)) return 0;
    return detail::io_read(h.get(), buf, detail::deadline::after(timeout), ec);
}

std::size_t try_read(borrowed_handle h, std::span<std::byte> buf, std::error_code& ec) noexcept {
    if (nothing_to_move(buf.size(), ec)) return 0;
    return detail::io_try_read(h.get(), buf, ec);
}

std::size_t write_all(borrowed_handle h, std::span<const std::byte> data, std::error_code& ec) noexcept {
    if (nothing_to_move(data.size(), ec)) return 0;
    return detail::io_write(h.get(), data, detail::deadline::never(), ec);
}

std::size_t write_all_for(borrowed_handle h, std::span<const std::byte> data, milliseconds timeout,
                          std::error_code& ec) noexcept {
    if (nothing_to_move(data.size(), ec)) return 0;
    return detail::io_write(h.get(), data, detail::deadline::after(timeout), ec);
}

std::size_t try_write(borrowed_handle h, std::span<const std::byte> data, std::error_code& ec) noexcept {
    if (nothing_to_move(data.size(), ec)) return 0;
    return detail::io_try_write(h.get(), data, ec);
}

std::uint64_t forward(borrowed_handle from, borrowed_handle to, const forward_options& opt,
                      std::error_code& ec) noexcept {
    return detail::io_forward(from.get(), to.get(), opt, ec);
}

void ignore_sigpipe() {
    std::string what;
    if (auto ec = detail::io_ignore_sigpipe(what)) throw_error(ec, "ignore_sigpipe: " + what);
}

// The throwing overloads.

std::size_t read(borrowed_handle h, std::span<std::byte> buf) {
    std::error_code ec;
    auto n = read(h, buf, ec);
    if (ec) throw_error(ec, describe("read", h, ec));
    return n;
}

std::size_t read_for(borrowed_handle h, std::span<std::byte> buf, milliseconds timeout) {
    std::error_code ec;
    auto n = read_for(h, buf, timeout, ec);
    if (ec) throw_error(ec, describe("read", h, ec));
    return n;
}

void write_all(borrowed_handle h, std::span<const std::byte> data) {
    std::error_code ec;
    write_all(h, data, ec);
    if (ec) throw_error(ec, describe("write", h, ec));
}

void write_all(borrowed_handle h, std::string_view text) {
    write_all(h, std::as_bytes(std::span(text.data(), text.size())));
}

std::uint64_t detail::copy_to_end(borrowed_handle from, borrowed_handle to, std::error_code& ec) noexcept {
    std::uint64_t done = 0;
    std::byte buf[65536];
    for (;;) {
        auto n = read(from, buf, ec);
        if (ec || n == 0) return done;
        auto written = write_all(to, std::span<const std::byte>(buf, n), ec);
        done += written;
        if (ec) return done;
    }
}

std::uint64_t forward(borrowed_handle from, borrowed_handle to, std::error_code& ec) noexcept {
    return forward(from, to, forward_options{}, ec);
}

std::uint64_t forward(borrowed_handle from, borrowed_handle to) {
    return forward(from, to, forward_options{});
}

std::uint64_t forward(borrowed_handle from, borrowed_handle to, const forward_options& opt) {
    std::error_code ec;
    auto n = forward(from, to, opt, ec);
    if (ec)
        throw_error(ec, "forward from " + detail::describe_handle(from.get()) + " to " +
                            detail::describe_handle(to.get()) + " (" + std::to_string(n) + " bytes moved)");
    return n;
}

std::string read_to_end(borrowed_handle h) {
    std::string out;
    std::byte buf[16384];
    for (;;) {
        auto n = read(h, buf);
        if (n == 0) return out;
        out.append(reinterpret_cast<const char*>(buf), n);  // NOLINT: bytes to chars
    }
}

std::string read_to_end_for(borrowed_handle h, milliseconds timeout, std::error_code& ec) {
    // One deadline for the whole call, saturating (milliseconds::max() means no limit).
    auto deadline = detail::deadline::after(timeout);
    std::string out;
    std::byte buf[16384];
    for (;;) {
        auto n = read_for(h, buf, deadline.remaining(), ec);
        if (ec || n == 0) return out;
        out.append(reinterpret_cast<const char*>(buf), n);  // NOLINT: bytes to chars
    }
}

std::string read_to_end_for(borrowed_handle h, milliseconds timeout) {
    std::error_code ec;
    auto out = read_to_end_for(h, timeout, ec);
    if (ec)
        throw_error(ec, describe("read to end-of-file", h, ec) + " within " + std::to_string(timeout.count()) +
                            " ms (" + std::to_string(out.size()) + " bytes had arrived)");
    return out;
}

void write_all_for(borrowed_handle h, std::span<const std::byte> data, milliseconds timeout) {
    std::error_code ec;
    auto n = write_all_for(h, data, timeout, ec);
    if (ec)
        throw_error(ec, describe("write", h) + " within " + std::to_string(timeout.count()) + " ms (" +
                            std::to_string(n) + " of " + std::to_string(data.size()) + " bytes written)");
}

// ---- chunk_reader

namespace {
constexpr std::size_t page = 4096;
constexpr std::size_t default_chunk = std::size_t{64} << 10;
constexpr std::size_t max_auto_chunk = std::size_t{1} << 20;
constexpr std::size_t max_chunk = std::size_t{1} << 30;  // rounding up to pages cannot wrap below it

std::size_t chunk_size_for(borrowed_handle h, std::size_t asked) {
    if (asked > max_chunk)
        throw_error(errc::invalid_argument, "chunk_reader: buffer_size " + std::to_string(asked) +
                                                " is over the maximum of 1 GiB (" + std::to_string(max_chunk) + " bytes)");
    if (asked == 0) {
        std::error_code ec;
        std::size_t cap = pipe_capacity(h, ec);
        asked = ec || cap == 0 ? default_chunk : std::min(cap, max_auto_chunk);
    }
    return (asked + page - 1) / page * page;
}
}  // namespace

void chunk_reader::page_delete::operator()(std::byte* p) const noexcept {
    ::operator delete[](p, std::align_val_t{page});
}

chunk_reader::chunk_reader(borrowed_handle h, std::size_t buffer_size)
    : h_(h),
      size_(chunk_size_for(h, buffer_size)),
      buf_(static_cast<std::byte*>(::operator new[](size_, std::align_val_t{page}))) {}

std::span<const std::byte> chunk_reader::next(std::error_code& ec) noexcept {
    std::size_t n = read(h_, std::span<std::byte>(buf_.get(), size_), ec);
    return {buf_.get(), ec ? 0 : n};
}

std::span<const std::byte> chunk_reader::try_next(std::error_code& ec) noexcept {
    std::size_t n = try_read(h_, std::span<std::byte>(buf_.get(), size_), ec);
    return {buf_.get(), ec ? 0 : n};
}

std::span<const std::byte> chunk_reader::next() {
    std::error_code ec;
    auto chunk = next(ec);
    if (ec) throw_error(ec, describe("read", h_, ec) + " (chunk_reader)");
    return chunk;
}

}  // namespace tether
