// Portable, internal: forward()'s way that works on every handle, for a backend's forward() to
// fall back on.
#pragma once

#include <tether/handle.hpp>

#include <cstdint>
#include <system_error>

namespace tether::detail {

/// read() into a buffer, write_all() out, until end-of-file.
std::uint64_t copy_to_end(borrowed_handle from, borrowed_handle to, std::error_code& ec) noexcept;

}  // namespace tether::detail
