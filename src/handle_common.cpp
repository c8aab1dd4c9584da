// Portable: owning and duplicating handles, their text form and the last OS error, once for
// every backend. The backend makes the one system call each needs (backend.hpp, section 1).
#include <tether/error.hpp>
#include <tether/handle.hpp>

#include "detail/backend.hpp"
#include "detail/manifest.hpp"

namespace tether {

void unique_handle::reset(native_handle h) noexcept {
    if (h == h_) return;  // resetting to the value we own must not close it under ourselves
    native_handle old = std::exchange(h_, h);
    if (is_valid_native(old)) detail::handle_close(old);
}

unique_handle borrowed_handle::duplicate(std::error_code& ec) const noexcept {
    ec.clear();
    native_handle copy = detail::handle_duplicate(h_, ec);
    if (ec) return {};
    return unique_handle(copy);
}

unique_handle borrowed_handle::duplicate() const {
    std::error_code ec;
    auto h = duplicate(ec);
    if (ec) throw_error(ec, "duplicate " + detail::describe_handle(h_));
    return h;
}

unique_handle unique_handle::duplicate(std::error_code& ec) const noexcept { return borrowed_handle(*this).duplicate(ec); }

unique_handle unique_handle::duplicate() const { return borrowed_handle(*this).duplicate(); }

std::string to_handle_string(borrowed_handle h) { return detail::format_handle_value(h.get()); }

bool is_inheritable(borrowed_handle h) {
    std::error_code ec;
    bool inheritable = detail::handle_inheritable(h.get(), ec);
    if (ec) throw_error(ec, "is_inheritable(" + detail::describe_handle(h.get()) + ")");
    return inheritable;
}

std::error_code last_os_error() noexcept { return detail::last_system_error(); }

}  // namespace tether
