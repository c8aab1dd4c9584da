// Portable: tether's error category and the one helper that throws.
#include <tether/error.hpp>

#include <system_error>

namespace tether {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "tether"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::peer_gone: return "the peer is gone (its end of the pipe is closed)";
            case errc::timed_out: return "timed out";
            case errc::protocol_error: return "protocol error: malformed frame from the peer";
            case errc::message_too_large: return "message larger than the configured maximum";
            case errc::not_a_pipe: return "not a pipe";
            case errc::wrong_direction: return "pipe end of the wrong direction";
            case errc::invalid_handle_string: return "invalid handle string";
            case errc::unknown_handle_name: return "no handle of that name was passed";
            case errc::no_manifest: return "this process was not given handles by a tether parent";
            case errc::invalid_argument: return "invalid argument";
            case errc::unsafe_argument: return "argument cannot be passed safely";
            case errc::not_supported: return "not supported on this platform";
            case errc::closed: return "already closed";
            case errc::would_block: return "would block: nothing can be done without waiting";
            case errc::output_limit: return "output limit exceeded";
            case errc::line_too_long: return "line longer than the limit";
            case errc::held_open: return "the child exited, but its pipe is still held open by another process";
        }
        return "unknown tether error " + std::to_string(value);
    }
};

}  // namespace

const std::error_category& tether_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), tether_category()}; }
std::error_condition make_error_condition(errc e) noexcept {
    return {static_cast<int>(e), tether_category()};
}

void throw_error(std::error_code ec, const std::string& what) { throw std::system_error(ec, what); }

}  // namespace tether
