// Windows backend: terminals (detail/backend.hpp, section 2) are not built yet. The shape the
// pseudo console will take: terminal_create makes the input and output pipes and the HPCON
// (CreatePseudoConsole), launch gives it to the child by PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE,
// input()/output() are our pipe ends, resize is ResizePseudoConsole, and terminal_close calls
// ClosePseudoConsole while a reader drains the output pipe (it blocks until the console's last
// output is read), then closes the pipes. Until then every spawn that asks for a terminal is
// refused before anything is created.
#include <tether/error.hpp>

#include "detail/backend.hpp"

namespace tether::detail {

/// What the pseudo console will keep; the two pipe ends of ours, for now never opened.
struct terminal_endpoint {
    unique_handle input;   // we write the child's keyboard here
    unique_handle output;  // we read the child's screen here
};

void terminal_endpoint_deleter::operator()(terminal_endpoint* t) const noexcept {
    if (t == nullptr) return;
    terminal_close(*t);
    delete t;
}

terminal_ptr terminal_create(terminal_size /*size*/, std::error_code& ec, std::string& what) {
    ec = errc::not_supported;
    what = "terminals on Windows are not built yet";
    return nullptr;
}

borrowed_handle terminal_input(const terminal_endpoint& t) noexcept { return t.input.borrow(); }
borrowed_handle terminal_output(const terminal_endpoint& t) noexcept { return t.output.borrow(); }

std::error_code terminal_resize(terminal_endpoint& /*t*/, terminal_size /*size*/) noexcept { return errc::not_supported; }

std::error_code terminal_get_size(const terminal_endpoint& /*t*/, terminal_size& /*size*/) noexcept {
    return errc::not_supported;
}

void terminal_close(terminal_endpoint& t) noexcept {
    t.input.reset();
    t.output.reset();
}

}  // namespace tether::detail
