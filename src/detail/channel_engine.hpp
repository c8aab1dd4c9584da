// Internal, portable, I/O-free: the state of one channel end that both the blocking calls
// (src/channel.cpp, through src/channel_state.cpp) and the poller (src/channel_source.cpp) drive — the frame decoder fed with bytes as
// they arrive, the handles that arrived out of band and wait for their frame, and the queue of
// encoded frames waiting to be written with the handles that must travel with them.
//
// It never calls the OS: a driver asks it where to put bytes it read (input_space/commit) and
// what to write next (next_output/next_handles/wrote), so a message already buffered is
// visible to whichever driver looks next, and a write can stop at any byte and go on later.
//
// Out-of-band handles (SCM_RIGHTS) travel with the first byte of the write that carries them,
// and the receiver queues them until a frame claims them, so they may arrive early but never
// late. Each queued frame's handles form a batch that starts at the frame's first byte; a write
// carries the front batch and never goes past the start of the next one, and batches are merged
// while they fit one write (channel_max_out_of_band()).
#pragma once

#include <tether/handle.hpp>

#include "detail/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

namespace tether::detail {

class channel_engine {
public:
    channel_engine(std::size_t max_message_size, std::size_t max_handles_per_write);

    // ---- output

    /// Appends one whole frame to the queue; takes `out_of_band` (the handles that travel with
    /// its bytes) and `wire` (kept until the frame is written, so a backend can take pushed
    /// copies back if it never is).
    void queue_frame(frame_kind kind, std::span<const std::uint64_t> wire, std::span<const std::byte> payload,
                     std::vector<unique_handle>& out_of_band);
    /// queue_frame() for the common case: a data frame without handles.
    void queue_data(std::span<const std::byte> payload) { append_plain_frame(out_, frame_kind::data, payload); }
    [[nodiscard]] bool has_output() const noexcept { return pos_ < out_.size(); }
    [[nodiscard]] std::size_t queued_bytes() const noexcept { return out_.size() - pos_; }
    /// The bytes the next write may carry (up to the next handle batch).
    [[nodiscard]] std::span<const std::byte> next_output() const noexcept;
    /// The handles that must go with the first byte of the next write (may be empty).
    [[nodiscard]] std::vector<unique_handle>& next_handles() noexcept;
    /// True if next_handles() have not been given to the peer yet (channel_push_handles): then
    /// `handles` are they and `wire` their wire values, to be filled in. Right before the write.
    bool next_push(std::span<const unique_handle>& handles, std::span<std::uint64_t>& wire) noexcept;
    /// The wire values next_push() gave were filled in: they go into the queued frames' handle
    /// tables (until now placeholders).
    void pushed() noexcept;
    /// `n` (> 0) bytes of next_output() were written, and next_handles() went with them.
    void wrote(std::size_t n) noexcept;
    /// Drops the queue (the peer is gone or the channel closes). Returns the handles that were
    /// never sent and appends the wire values of those already pushed to `wire`.
    std::vector<unique_handle> discard_output(std::vector<std::uint64_t>& wire);

    // ---- input

    [[nodiscard]] std::span<std::byte> input_space() { return reader_.space(); }
    void input_commit(std::size_t n) noexcept { reader_.commit(n); }
    [[nodiscard]] std::deque<unique_handle>& arrived() noexcept { return arrived_; }
    /// The next complete frame from what is buffered (no I/O).
    frame_reader::status next_frame(frame& out, std::error_code& ec) { return reader_.next(out, ec); }
    /// The next frame if it carries no handles and is buffered whole (frame_reader::next_plain).
    frame_reader::status next_plain_frame(std::vector<std::byte>& payload, frame_kind& kind, std::error_code& ec) {
        return reader_.next_plain(payload, kind, ec);
    }
    /// Bytes are buffered that next_frame() has not consumed (a whole frame may be among them).
    [[nodiscard]] bool has_buffered_input() const noexcept { return reader_.has_buffered(); }
    [[nodiscard]] bool mid_frame() const noexcept { return reader_.mid_frame(); }
    /// Handles that arrived but no frame has claimed: a broken peer flooding our table if this
    /// grows past two writes' worth.
    [[nodiscard]] bool too_many_unclaimed() const noexcept { return arrived_.size() > 2 * max_oob_; }
    /// Memory held for this end (buffers, not the handles).
    [[nodiscard]] std::size_t footprint() const noexcept { return reader_.footprint() + out_.capacity(); }

    /// Releases every buffer and handle (closing: nothing the peer sent can be used any more).
    void clear() noexcept;

private:
    struct batch {
        std::size_t start;  // offset in out_ of the first byte of the first frame in the batch
        std::vector<unique_handle> handles;
        std::vector<std::uint64_t> wire;
        std::vector<std::size_t> wire_at;  // offset in out_ of each wire value
        bool pushed{false};
    };
    void compact() noexcept;

    frame_reader reader_;
    std::deque<unique_handle> arrived_;
    std::vector<std::byte> out_;
    std::size_t pos_{0};  // first byte of out_ not yet written
    std::deque<batch> batches_;
    std::size_t max_oob_;
};

}  // namespace tether::detail
