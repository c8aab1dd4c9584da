// Windows, internal: the contract's terminal_endpoint (detail/backend.hpp, section 2): a pseudo
// console, its pipes and its relay (windows/pseudo_console.hpp).
#pragma once

#include "detail/backend.hpp"
#include "windows/pseudo_console.hpp"

#include <memory>

namespace tether::detail {

/// The console is the launch's to attach (PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE) and to watch the
/// child with; afterwards the public terminal reaches it through the hooks only.
struct terminal_endpoint {
    std::unique_ptr<pseudo_console> console;
};

}  // namespace tether::detail
