// Portable: pipe_client's constructors. The backend checks the handle
// (check_pipe_handle_string) and words the platform-specific causes (detail::why_not_a_pipe).
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/os.hpp"

namespace tether {
namespace {

std::string describe_input(direction d, std::string_view text) {
    return std::string("pipe_client(") + (d == direction::in ? "in" : "out") + ", '" + std::string(text) + "')";
}

}  // namespace

pipe_client::pipe_client(direction d, std::string_view handle_string) : dir_(d) {
    native_handle h = invalid_native_handle();
    if (auto ec = check_pipe_handle_string(d, handle_string, h)) {
        std::string what = describe_input(d, handle_string) + detail::why_not_a_pipe(ec, handle_string);
        if (ec == errc::wrong_direction)
            what += d == direction::in ? ": this is the write end; direction::in reads"
                                       : ": this is the read end; direction::out writes";
        throw_error(ec, what);
    }
    if (auto ec = detail::adopt_inherited(h)) throw_error(ec, describe_input(d, handle_string));
    h_ = unique_handle(h);
}

pipe_client::pipe_client(direction d, unique_handle h) : dir_(d), h_(std::move(h)) {
    native_handle ignored = invalid_native_handle();
    if (auto ec = check_pipe_handle_string(d, to_handle_string(h_), ignored))
        throw_error(ec, describe_input(d, to_handle_string(h_)));
}

}  // namespace tether
