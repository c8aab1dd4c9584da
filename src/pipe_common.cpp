// Portable: make_pipe, pipe_capacity, pipe_server, pipe_client and the check of a handle
// string. The backend creates the pipe (detail::pipe_create), checks what a handle value names
// (detail::pipe_check_end) and words the platform-specific causes (detail::why_not_a_pipe).
#include <tether/error.hpp>
#include <tether/pipe.hpp>
#include <tether/spawn.hpp>

#include "detail/backend.hpp"
#include "detail/manifest.hpp"
#include "detail/spawn_rules.hpp"

namespace tether {
namespace {

std::string describe_input(direction d, std::string_view text) {
    return std::string("pipe_client(") + (d == direction::in ? "in" : "out") + ", '" + std::string(text) + "')";
}

// A placeholder reached a process that was not started by tether::spawn (which replaces it).
// Refused by name: taking its number at face value is what handed children the wrong pipe.
[[noreturn]] void refuse_placeholder(direction d, std::string_view text) {
    throw_error(errc::invalid_handle_string,
                describe_input(d, text) +
                    ": this is a tether::spawn placeholder (pipe_server::client_handle_string(), "
                    "handle_arg()), which only tether::spawn replaces with the value the child "
                    "receives; a child started another way needs to_handle_string(client_handle())");
}

}  // namespace

pipe_pair make_pipe(direction d, std::size_t capacity) {
    std::error_code ec;
    std::string what;
    auto p = detail::pipe_create(d, capacity, ec, what);
    if (ec) throw_error(ec, what);
    return p;
}

pipe_pair make_pipe(direction d) { return make_pipe(d, 0); }

pipe_ends make_pipe() {
    auto p = make_pipe(direction::in);
    return {std::move(p.ours), std::move(p.theirs)};
}

std::size_t pipe_capacity(borrowed_handle h, std::error_code& ec) noexcept {
    return detail::pipe_query_capacity(h.get(), ec);
}

pipe_server::pipe_server(direction d, std::size_t buffer_size) : dir_(d) {
    auto p = make_pipe(d, buffer_size);
    ours_ = std::move(p.ours);
    client_ = std::move(p.theirs);
}

std::error_code check_pipe_handle_string(direction d, std::string_view handle_string,
                                         native_handle& out) noexcept {
    auto value = detail::parse_handle_value(handle_string);
    if (!value || !is_valid_native(*value)) return errc::invalid_handle_string;
    if (auto ec = detail::pipe_check_end(*value, d)) return ec;
    out = *value;
    return {};
}

// The value the child will have, not ours: spawn() renumbers a passed handle (POSIX: 3, 4, ...;
// Windows: its value in the process it inherits from), so our own number on argv would name
// another descriptor, or another pipe, in the child. spawn() substitutes the placeholder as it
// does for handle_arg() (src/spawn_common.cpp, substitute_handle_args).
std::string pipe_server::client_handle_string() const {
    if (!client_)
        throw_error(errc::invalid_argument,
                    "pipe_server::client_handle_string(): the client end was already taken or disposed of; "
                    "call it before take_client_handle()");
    return handle_arg(client_);
}

pipe_client::pipe_client(direction d, std::string_view handle_string) : dir_(d) {
    native_handle h = invalid_native_handle();
    if (detail::holds_handle_placeholder(handle_string)) refuse_placeholder(d, handle_string);
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
