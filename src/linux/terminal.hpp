// Linux, internal: the contract's terminal_endpoint (detail/backend.hpp, section 2).
#pragma once

#include <tether/handle.hpp>

#include "detail/backend.hpp"

namespace tether::detail {

/// A pseudo-terminal: the master is ours for the terminal's life; the slave only until the
/// launch has given it to the child (launch() closes it then; a failed launch with the rest).
struct terminal_endpoint {
    unique_handle master;
    unique_handle slave;
};

}  // namespace tether::detail
