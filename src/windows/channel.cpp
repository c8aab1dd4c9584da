// Windows backend of the channel: NOT IMPLEMENTED YET — a placeholder so that the portable
// channel links on Windows; every operation reports errc::not_supported (make_channel() and
// channel(h) throw it, and the shared channel tests skip with that reason).
//
// To implement, replace this file; the contract is src/detail/channel_backend.hpp. A sketch:
// a duplex byte stream (e.g. an overlapped named pipe created non-inheritable, like the
// backend's "anonymous" pipes); handles are duplicated into the peer process and their values
// sent as the frame's wire values (channel_export_handles), keeping the local copies in
// out_of_band so channel_write closes them only once the frame is written; the receiver wraps
// the wire values at once (channel_import_handles). A child gives a handle to its parent with
// the same mechanism (it can open its parent with PROCESS_DUP_HANDLE only if allowed; otherwise
// the parent duplicates out of the child).
#include "detail/channel_backend.hpp"

#include <tether/error.hpp>

namespace tether::detail {

struct channel_endpoint {
    unique_handle h;
};

void channel_endpoint_deleter::operator()(channel_endpoint* e) const noexcept { delete e; }

std::error_code channel_make_pair(endpoint_ptr&, unique_handle&) { return errc::not_supported; }

endpoint_ptr channel_open(unique_handle&& h, std::error_code& ec, std::string& what) {
    unique_handle owned = std::move(h);  // closed: the contract says so on failure
    ec = errc::not_supported;
    what = "channels are not implemented on Windows yet";
    return nullptr;
}

borrowed_handle channel_native(const channel_endpoint& e) noexcept { return e.h.borrow(); }

std::error_code channel_export_handles(channel_endpoint&, std::vector<unique_handle>& handles,
                                       std::vector<std::uint64_t>&, std::vector<unique_handle>&) {
    handles.clear();
    return errc::not_supported;
}

std::size_t channel_max_out_of_band() noexcept { return 64; }

std::error_code channel_write(channel_endpoint&, std::span<const std::span<const std::byte>>,
                              std::vector<unique_handle>& out_of_band) {
    out_of_band.clear();
    return errc::not_supported;
}

std::size_t channel_read(channel_endpoint&, std::span<std::byte>, std::deque<unique_handle>&, deadline_t,
                         std::error_code& ec) {
    ec = errc::not_supported;
    return 0;
}

std::error_code channel_import_handles(channel_endpoint&, std::span<const std::uint64_t>,
                                       std::deque<unique_handle>&, std::vector<unique_handle>&) {
    return errc::not_supported;
}

}  // namespace tether::detail
