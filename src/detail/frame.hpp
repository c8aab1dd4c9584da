// Portable, internal: the channel's wire format and the decoder that never trusts the peer.
//
// A frame is
//
//     header (12 bytes, little-endian) | handle table (handle_count x u64) | payload
//
//     offset  size  field
//     0       2     magic 0x5454 ('T','T')
//     2       1     version (1)
//     3       1     kind (1 = data, 2 = goodbye)
//     4       2     flags (none defined: every bit is reserved and must be 0)
//     6       2     handle_count (<= frame_limits::max_handles)
//     8       4     payload_length (<= frame_limits::max_payload)
//
// The handle table carries one 64-bit "wire value" per handle. On Linux the descriptors
// themselves travel out of band (SCM_RIGHTS) and the wire values are 0; on Windows a backend
// that duplicates handles into the peer puts the peer's handle value there. The format is the
// same on both, so the decoder (and its fuzz target) is portable.
//
// Validation order (libuv's Windows IPC header and Mojo's transport do the same): magic,
// version, kind, flags, handle count, length — all before anything is allocated. A goodbye
// carries neither payload nor handles.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

namespace tether::detail {

inline constexpr std::size_t frame_header_size = 12;
inline constexpr std::uint16_t frame_magic = 0x5454;
inline constexpr std::uint8_t frame_version = 1;
inline constexpr std::size_t wire_handle_size = 8;
/// Linux limits one sendmsg to SCM_MAX_FD (253) descriptors; a message stays well below that.
inline constexpr std::size_t max_handles_per_frame = 64;

enum class frame_kind : std::uint8_t { data = 1, goodbye = 2 };

struct frame_header {
    frame_kind kind{frame_kind::data};
    std::uint16_t flags{0};
    std::uint16_t handle_count{0};
    std::uint32_t payload_length{0};
};

struct frame_limits {
    std::size_t max_payload{16u * 1024 * 1024};
    std::size_t max_handles{max_handles_per_frame};
};

/// Writes `h` into `out` (exactly frame_header_size bytes).
void encode_header(const frame_header& h, std::span<std::byte, frame_header_size> out) noexcept;

/// Reads and validates a header. errc::protocol_error for a bad magic, version, kind, reserved
/// flag bit, too many handles, or a goodbye with a body; errc::message_too_large for a payload
/// longer than limits.max_payload. `out` is only meaningful when the result is clear.
std::error_code decode_header(std::span<const std::byte, frame_header_size> in, const frame_limits& limits,
                              frame_header& out) noexcept;

void put_u64(std::byte* p, std::uint64_t v) noexcept;
std::uint64_t get_u64(const std::byte* p) noexcept;

/// One decoded frame.
struct frame {
    frame_kind kind{frame_kind::data};
    std::vector<std::uint64_t> wire_handles;  ///< one per handle, from the handle table
    std::vector<std::byte> payload;
};

/// Turns a byte stream into frames. The caller reads into space() and reports how much arrived
/// with commit(); next() then yields complete frames. Bytes are buffered, so one read can carry
/// many frames; a payload that does not fit the buffer is read straight into its own storage,
/// which grows with the bytes that arrive (never to an announced length the peer did not send)
/// and only after that length passed validation. After an error every later
/// call returns the same error.
class frame_reader {
public:
    explicit frame_reader(frame_limits limits = {}, std::size_t buffer_size = 64 * 1024);

    /// Where the next read should put bytes (never empty unless the reader failed).
    [[nodiscard]] std::span<std::byte> space();
    /// `n` bytes (<= space().size()) were written into space().
    void commit(std::size_t n) noexcept;

    enum class status { need_more, frame, error };
    /// Decodes the next frame from what is buffered. `ec` is set with status::error.
    status next(frame& out, std::error_code& ec);

    /// The fast path of next(), for the common case: the next frame carries no handles and is
    /// buffered whole. Then its payload is copied into `payload` (whose storage is reused) and
    /// status::frame returned. status::need_more means "not that case": call next(), which
    /// handles every frame; status::error as next().
    status next_plain(std::vector<std::byte>& payload, frame_kind& kind, std::error_code& ec);
    /// Called at end-of-file: clear if the stream ended between frames, errc::protocol_error
    /// if a frame was cut short.
    [[nodiscard]] std::error_code at_eof() const noexcept;
    /// True if buffered bytes may hold a complete frame (next() would not need a read).
    [[nodiscard]] bool has_buffered() const noexcept { return end_ > begin_; }
    /// True if part of a frame has been read (a header, a handle table or payload bytes).
    [[nodiscard]] bool mid_frame() const noexcept { return in_payload_ || available() > 0; }
    /// Bytes of memory this reader holds now (read buffer and a partial payload).
    [[nodiscard]] std::size_t footprint() const noexcept { return buf_.capacity() + pending_.payload.capacity(); }
    [[nodiscard]] const frame_limits& limits() const noexcept { return limits_; }

private:
    std::size_t available() const noexcept { return end_ - begin_; }
    std::size_t payload_remaining() const noexcept;
    status start_frame(std::error_code& ec);
    status finish_frame(frame& out);

    frame_limits limits_;
    std::size_t max_buffer_;
    std::vector<std::byte> buf_;  // allocated on first use
    std::size_t begin_{0}, end_{0};
    // A frame whose payload is being read directly into `pending_.payload`.
    bool in_payload_{false};
    bool direct_{false};  // space() handed out the payload itself
    std::size_t offered_{0};  // the size of the buffer space space() handed out last
    bool filled_{false};      // the last read filled all of it: the buffer may grow
    std::size_t payload_filled_{0};
    std::size_t payload_length_{0};  // as announced (and validated); pending_.payload grows to it
    frame pending_;
    std::error_code failed_;
};

/// Appends a frame's header and handle table to `out`, announcing `payload_length` bytes that
/// the caller sends right after.
void append_frame_head(std::vector<std::byte>& out, frame_kind kind, std::span<const std::uint64_t> wire_handles,
                       std::size_t payload_length);

/// Appends a frame without handles (header, payload) to `out`: no handle table, and nothing is
/// zero-filled first (send_more() of small messages spends its time here).
inline void append_plain_frame(std::vector<std::byte>& out, frame_kind kind, std::span<const std::byte> payload) {
    std::array<std::byte, frame_header_size> head;
    encode_header(frame_header{kind, 0, 0, static_cast<std::uint32_t>(payload.size())}, head);
    out.insert(out.end(), head.begin(), head.end());
    out.insert(out.end(), payload.begin(), payload.end());
}
/// Appends one whole frame (header, handle table, payload) to `out`.
void append_frame(std::vector<std::byte>& out, frame_kind kind, std::span<const std::uint64_t> wire_handles,
                  std::span<const std::byte> payload);

}  // namespace tether::detail
