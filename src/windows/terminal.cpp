// Windows backend: terminals (detail/backend.hpp, section 2) are pseudo consoles
// (windows/pseudo_console.hpp: ConPTY over server-end named pipes, a relay that drains the
// console while ClosePseudoConsole runs, the session ended with the child's exit). The launch
// (spawn.cpp) gives the console to the child and has it watch the child; these hooks are the
// rest of the public terminal's calls.
#include <tether/error.hpp>

#include "detail/backend.hpp"
#include "windows/terminal.hpp"

#include <string>

namespace tether::detail {
namespace {

console_size to_console(terminal_size size) noexcept { return {size.cols, size.rows}; }

}  // namespace

void terminal_endpoint_deleter::operator()(terminal_endpoint* t) const noexcept {
    if (t == nullptr) return;
    terminal_close(*t);
    delete t;
}

terminal_ptr terminal_create(terminal_size size, std::error_code& ec, std::string& what) {
    terminal_ptr t(new terminal_endpoint);
    t->console = pseudo_console::create(to_console(size), ec, what);
    if (!t->console) return nullptr;
    return t;
}

borrowed_handle terminal_input(const terminal_endpoint& t) noexcept {
    return t.console ? t.console->input() : borrowed_handle();
}

borrowed_handle terminal_output(const terminal_endpoint& t) noexcept {
    return t.console ? t.console->output() : borrowed_handle();
}

std::error_code terminal_resize(terminal_endpoint& t, terminal_size size) noexcept {
    if (!t.console) return errc::closed;
    std::string what;  // the portable layer names the call and the size itself
    return t.console->resize(to_console(size), what);
}

std::error_code terminal_get_size(const terminal_endpoint& t, terminal_size& size) noexcept {
    if (!t.console) return errc::closed;
    auto s = t.console->size();  // the size last set: a console cannot be asked for its own
    size = {static_cast<std::uint16_t>(s.cols), static_cast<std::uint16_t>(s.rows)};
    return {};
}

void terminal_close(terminal_endpoint& t) noexcept {
    if (t.console) t.console->close();  // bounded: the relay drains while the console closes
    t.console.reset();
}

}  // namespace tether::detail
