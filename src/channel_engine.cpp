// Portable, I/O-free: the channel engine (see detail/channel_engine.hpp).
#include "detail/channel_engine.hpp"

#include <algorithm>

namespace tether::detail {
namespace {
// An output queue that drained keeps its storage up to this size; a larger one (after a burst)
// is given back, so an idle channel costs little memory.
constexpr std::size_t keep_output_capacity = 16 * 1024;
}  // namespace

channel_engine::channel_engine(std::size_t max_message_size, std::size_t max_handles_per_write)
    : reader_(frame_limits{max_message_size, max_handles_per_frame}), max_oob_(max_handles_per_write) {}

void channel_engine::queue_frame(frame_kind kind, std::span<const std::uint64_t> wire,
                                 std::span<const std::byte> payload, std::vector<unique_handle>& out_of_band) {
    std::size_t start = out_.size();
    append_frame(out_, kind, wire, payload);
    if (out_of_band.empty() && wire.empty()) return;
    bool fits = !batches_.empty() && batches_.back().handles.size() + out_of_band.size() <= max_oob_;
    if (!fits) batches_.push_back(batch{start, {}, {}, {}, false});
    auto& b = batches_.back();
    for (auto& h : out_of_band) b.handles.push_back(std::move(h));
    b.wire.insert(b.wire.end(), wire.begin(), wire.end());
    for (std::size_t i = 0; i < wire.size(); ++i) b.wire_at.push_back(start + frame_header_size + wire_handle_size * i);
    out_of_band.clear();
}

bool channel_engine::next_push(std::span<const unique_handle>& handles, std::span<std::uint64_t>& wire) noexcept {
    if (batches_.empty() || batches_.front().pushed) return false;
    handles = batches_.front().handles;
    wire = batches_.front().wire;
    return true;
}

void channel_engine::pushed() noexcept {
    auto& b = batches_.front();
    for (std::size_t i = 0; i < b.wire.size(); ++i)
        for (std::size_t k = 0; k < 8; ++k) out_[b.wire_at[i] + k] = static_cast<std::byte>((b.wire[i] >> (8 * k)) & 0xff);
    b.pushed = true;
}

std::span<const std::byte> channel_engine::next_output() const noexcept {
    std::size_t end = batches_.size() >= 2 ? batches_[1].start : out_.size();
    return std::span<const std::byte>(out_).subspan(pos_, end - pos_);
}

std::vector<unique_handle>& channel_engine::next_handles() noexcept {
    static thread_local std::vector<unique_handle> none;  // stays empty: nothing is ever added
    return batches_.empty() ? none : batches_.front().handles;
}

void channel_engine::wrote(std::size_t n) noexcept {
    pos_ += n;
    if (n > 0 && !batches_.empty()) batches_.pop_front();  // its handles went with these bytes
    if (pos_ == out_.size()) {
        out_.clear();
        pos_ = 0;
        if (out_.capacity() > keep_output_capacity) out_ = {};
        return;
    }
    compact();
}

void channel_engine::compact() noexcept {
    // Moves the unwritten tail to the front once most of the queue is written, so a channel
    // that always has a little output pending does not grow without bound.
    if (pos_ < keep_output_capacity || pos_ < out_.size() / 2) return;
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(pos_));
    for (auto& b : batches_) {
        b.start -= std::min(b.start, pos_);
        for (auto& at : b.wire_at) at -= std::min(at, pos_);
    }
    pos_ = 0;
}

std::vector<unique_handle> channel_engine::discard_output(std::vector<std::uint64_t>& wire) {
    std::vector<unique_handle> unsent;
    for (auto& b : batches_) {
        for (auto& h : b.handles) unsent.push_back(std::move(h));
        if (b.pushed) wire.insert(wire.end(), b.wire.begin(), b.wire.end());
    }
    batches_.clear();
    out_ = {};
    pos_ = 0;
    return unsent;
}

void channel_engine::clear() noexcept {
    batches_.clear();
    out_ = {};
    pos_ = 0;
    arrived_.clear();
    reader_ = frame_reader(reader_.limits());
}

}  // namespace tether::detail
