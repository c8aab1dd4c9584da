// Portable: channel frames — encoding, validation, and a buffered stream decoder.
#include "detail/frame.hpp"

#include <tether/error.hpp>

#include <algorithm>
#include <cstring>

namespace tether::detail {
namespace {

// Byte-by-byte little-endian access: no alignment or host-endianness assumptions.
void put_u16(std::byte* p, std::uint16_t v) noexcept {
    p[0] = static_cast<std::byte>(v & 0xff);
    p[1] = static_cast<std::byte>(v >> 8);
}
void put_u32(std::byte* p, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
std::uint16_t get_u16(const std::byte* p) noexcept {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) | (std::to_integer<unsigned>(p[1]) << 8));
}
std::uint32_t get_u32(const std::byte* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
    return v;
}

// The smallest read buffer: it must always hold a header plus the largest handle table
// (12 + 64 * 8 bytes) with room to spare, so space() is never empty.
constexpr std::size_t min_buffer_size = 4096;

}  // namespace

void put_u64(std::byte* p, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
std::uint64_t get_u64(const std::byte* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
    return v;
}

void encode_header(const frame_header& h, std::span<std::byte, frame_header_size> out) noexcept {
    put_u16(out.data(), frame_magic);
    out[2] = static_cast<std::byte>(frame_version);
    out[3] = static_cast<std::byte>(h.kind);
    put_u16(out.data() + 4, h.flags);
    put_u16(out.data() + 6, h.handle_count);
    put_u32(out.data() + 8, h.payload_length);
}

std::error_code decode_header(std::span<const std::byte, frame_header_size> in, const frame_limits& limits,
                              frame_header& out) noexcept {
    if (get_u16(in.data()) != frame_magic) return errc::protocol_error;
    if (std::to_integer<std::uint8_t>(in[2]) != frame_version) return errc::protocol_error;
    auto kind = std::to_integer<std::uint8_t>(in[3]);
    if (kind != static_cast<std::uint8_t>(frame_kind::data) && kind != static_cast<std::uint8_t>(frame_kind::goodbye))
        return errc::protocol_error;
    out.kind = static_cast<frame_kind>(kind);
    out.flags = get_u16(in.data() + 4);
    if (out.flags != 0) return errc::protocol_error;  // reserved bits: a newer or broken peer
    out.handle_count = get_u16(in.data() + 6);
    if (out.handle_count > limits.max_handles) return errc::protocol_error;
    out.payload_length = get_u32(in.data() + 8);
    if (out.kind == frame_kind::goodbye && (out.payload_length != 0 || out.handle_count != 0))
        return errc::protocol_error;
    if (out.payload_length > limits.max_payload) return errc::message_too_large;
    return {};
}

void append_frame_head(std::vector<std::byte>& out, frame_kind kind, std::span<const std::uint64_t> wire_handles,
                       std::size_t payload_length) {
    std::size_t at = out.size();
    out.resize(at + frame_header_size + wire_handles.size() * wire_handle_size);
    frame_header h{kind, 0, static_cast<std::uint16_t>(wire_handles.size()),
                   static_cast<std::uint32_t>(payload_length)};
    encode_header(h, std::span<std::byte, frame_header_size>(out.data() + at, frame_header_size));
    at += frame_header_size;
    for (auto v : wire_handles) {
        put_u64(out.data() + at, v);
        at += wire_handle_size;
    }
}

void append_frame(std::vector<std::byte>& out, frame_kind kind, std::span<const std::uint64_t> wire_handles,
                  std::span<const std::byte> payload) {
    if (!wire_handles.empty()) {
        append_frame_head(out, kind, wire_handles, payload.size());
        out.insert(out.end(), payload.begin(), payload.end());
        return;
    }
    append_plain_frame(out, kind, payload);
}

frame_reader::frame_reader(frame_limits limits, std::size_t buffer_size)
    : limits_(limits), max_buffer_(std::max(buffer_size, min_buffer_size)) {
    limits_.max_handles = std::min(limits_.max_handles, max_handles_per_frame);
}

std::size_t frame_reader::payload_remaining() const noexcept { return payload_length_ - payload_filled_; }

std::span<std::byte> frame_reader::space() {
    if (failed_) return {};
    // A payload at least as big as the buffer is read in place: no copy, no second buffer. Its
    // storage grows with what arrives (doubling, from 4 KiB), never to the length
    // the header announced: a peer that announces 16 MiB and stalls costs us almost nothing.
    if (in_payload_ && payload_remaining() >= max_buffer_) {
        direct_ = true;
        auto& p = pending_.payload;
        if (p.size() == payload_filled_) {
            std::size_t grow = std::max(payload_filled_, min_buffer_size);
            p.resize(payload_filled_ + std::min(grow, payload_remaining()));
        }
        return std::span(p).subspan(payload_filled_);
    }
    direct_ = false;
    if (begin_ == end_) begin_ = end_ = 0;
    if (begin_ > 0 && buf_.size() - end_ < buf_.size() / 2) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    // The buffer is allocated on first use and grows while reads fill it: an idle channel holds
    // min_buffer_size bytes, a busy one max_buffer_. A read that filled all the space it was
    // offered says more was waiting; so does space running out. (Checking only the space left
    // is not enough: after the compaction above, a buffer of small frames always has room
    // again, and would stay at 4 KiB, a read per 4 KiB.)
    if ((filled_ || buf_.size() - end_ < min_buffer_size / 2) && buf_.size() < max_buffer_)
        buf_.resize(std::min(max_buffer_, std::max(min_buffer_size, buf_.size() * 2)));
    filled_ = false;
    offered_ = buf_.size() - end_;
    return std::span(buf_).subspan(end_);
}

void frame_reader::commit(std::size_t n) noexcept {
    if (direct_) {
        payload_filled_ += n;
    } else {
        end_ += n;
        filled_ = n > 0 && n == offered_;
    }
    direct_ = false;
}

frame_reader::status frame_reader::next_plain(std::vector<std::byte>& payload, frame_kind& kind,
                                              std::error_code& ec) {
    if (failed_) {
        ec = failed_;
        return status::error;
    }
    ec.clear();
    if (in_payload_ || available() < frame_header_size) return status::need_more;
    const std::byte* at = buf_.data() + begin_;
    frame_header h;
    if ((ec = decode_header(std::span<const std::byte, frame_header_size>(at, frame_header_size), limits_, h))) {
        failed_ = ec;
        return status::error;
    }
    if (h.handle_count != 0 || available() - frame_header_size < h.payload_length) return status::need_more;
    kind = h.kind;
    payload.assign(at + frame_header_size, at + frame_header_size + h.payload_length);
    begin_ += frame_header_size + h.payload_length;
    return status::frame;
}

frame_reader::status frame_reader::start_frame(std::error_code& ec) {
    if (available() < frame_header_size) return status::need_more;
    frame_header h;
    ec = decode_header(std::span<const std::byte, frame_header_size>(buf_.data() + begin_, frame_header_size),
                       limits_, h);
    if (ec) {
        failed_ = ec;
        return status::error;
    }
    std::size_t table = h.handle_count * wire_handle_size;
    if (available() < frame_header_size + table) return status::need_more;  // re-decoded next time
    begin_ += frame_header_size;
    pending_.kind = h.kind;
    pending_.wire_handles.resize(h.handle_count);
    for (auto& v : pending_.wire_handles) {
        v = get_u64(buf_.data() + begin_);
        begin_ += wire_handle_size;
    }
    pending_.payload.clear();  // grows as the payload arrives (see space())
    payload_length_ = h.payload_length;
    payload_filled_ = 0;
    in_payload_ = true;
    return status::frame;
}

frame_reader::status frame_reader::finish_frame(frame& out) {
    std::size_t take = std::min(available(), payload_remaining());
    if (take > 0) {
        auto& p = pending_.payload;
        if (p.size() < payload_filled_ + take) p.resize(payload_filled_ + take);
        std::memcpy(p.data() + payload_filled_, buf_.data() + begin_, take);
        payload_filled_ += take;
        begin_ += take;
    }
    if (payload_filled_ < payload_length_) return status::need_more;
    out = std::move(pending_);
    out.payload.resize(payload_length_);
    pending_ = frame{};
    in_payload_ = false;
    payload_filled_ = payload_length_ = 0;
    return status::frame;
}

frame_reader::status frame_reader::next(frame& out, std::error_code& ec) {
    // next_plain() also reports an earlier failure and clears `ec` otherwise.
    if (auto s = next_plain(out.payload, out.kind, ec); s != status::need_more) {
        if (s == status::frame) out.wire_handles.clear();
        return s;
    }
    if (!in_payload_) {
        auto s = start_frame(ec);
        if (s != status::frame) return s;
    }
    return finish_frame(out);
}

std::error_code frame_reader::at_eof() const noexcept {
    if (failed_) return failed_;
    if (in_payload_ || available() > 0) return errc::protocol_error;  // a frame cut short
    return {};
}

}  // namespace tether::detail
