// Portable: handle duplication's checks and messages, once for every backend (each backend
// defines only borrowed_handle::duplicate(std::error_code&): the one system call).
#include <tether/error.hpp>
#include <tether/handle.hpp>

#include "detail/backend.hpp"

namespace tether {

unique_handle borrowed_handle::duplicate() const {
    std::error_code ec;
    auto h = duplicate(ec);
    if (ec) throw_error(ec, "duplicate " + detail::describe_handle(h_));
    return h;
}

unique_handle unique_handle::duplicate(std::error_code& ec) const noexcept { return borrowed_handle(*this).duplicate(ec); }

unique_handle unique_handle::duplicate() const { return borrowed_handle(*this).duplicate(); }

}  // namespace tether
