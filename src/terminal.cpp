// tether::terminal, once for every backend, over the terminal hooks of detail/backend.hpp
// (section 2); and the portable rules of stdio::terminal() that validate_spawn_options applies.
#include <tether/error.hpp>
#include <tether/terminal.hpp>

#include "detail/terminal.hpp"

#include <string>
#include <utility>

namespace tether {

struct terminal::state {
    detail::terminal_ptr ep;
};

/// The one way to fill a terminal object: the child object, with what launch() made.
struct terminal_access {
    static terminal make(detail::terminal_ptr&& t) {
        terminal out;
        if (t) out.s_ = std::make_unique<terminal::state>(terminal::state{std::move(t)});
        return out;
    }
};

namespace detail {

terminal make_terminal(terminal_ptr&& t) noexcept {
    try {
        return terminal_access::make(std::move(t));
    } catch (...) {  // no memory for the state: `t` closes the terminal, and the child gets none
        return {};
    }
}

namespace {

constexpr unsigned max_dimension = 65535;  // struct winsize holds unsigned short

std::error_code bad(std::string& what, std::string text) {
    what = std::move(text);
    return errc::invalid_argument;
}

std::string dimensions(unsigned cols, unsigned rows) { return std::to_string(cols) + " x " + std::to_string(rows); }

std::error_code check_size(unsigned cols, unsigned rows, const std::string& who, std::string& what) {
    if (cols == 0 || rows == 0 || cols > max_dimension || rows > max_dimension)
        return bad(what, who + " asks for a terminal of " + dimensions(cols, rows) +
                             " (columns x rows): each must be 1 to 65535");
    return {};
}

}  // namespace

bool wants_terminal(const spawn_options& opt) noexcept {
    return opt.in.how == stdio::kind::terminal || opt.out.how == stdio::kind::terminal ||
           opt.err.how == stdio::kind::terminal;
}

std::error_code check_terminal_streams(const spawn_options& opt, std::string& what) {
    const stdio* streams[3] = {&opt.in, &opt.out, &opt.err};
    const char* names[3] = {"stdin", "stdout", "stderr"};
    const stdio* first = nullptr;
    const char* first_name = nullptr;
    for (int i = 0; i < 3; ++i) {
        const stdio& s = *streams[i];
        if (s.how != stdio::kind::terminal) continue;
        if (auto ec = check_size(s.cols, s.rows, names[i], what)) return ec;
        if (opt.detached)
            return bad(what, std::string("detached and ") + names[i] + " = stdio::terminal() contradict each other "
                             "(the terminal's session would tie the child to us)");
        if (first != nullptr && (s.cols != first->cols || s.rows != first->rows))
            return bad(what, std::string(first_name) + " asks for a terminal of " + dimensions(first->cols, first->rows) +
                             " and " + names[i] + " for " + dimensions(s.cols, s.rows) +
                             ": the streams share one terminal, give them one size");
        if (first == nullptr) {
            first = &s;
            first_name = names[i];
        }
    }
    return {};
}

}  // namespace detail

terminal::terminal() noexcept = default;
terminal::terminal(terminal&& other) noexcept = default;
terminal::~terminal() { close(); }

terminal& terminal::operator=(terminal&& other) noexcept {
    if (this != &other) {
        close();
        s_ = std::move(other.s_);
    }
    return *this;
}

terminal::operator bool() const noexcept { return s_ && s_->ep; }

borrowed_handle terminal::input() const noexcept { return *this ? detail::terminal_input(*s_->ep) : borrowed_handle(); }

borrowed_handle terminal::output() const noexcept {
    return *this ? detail::terminal_output(*s_->ep) : borrowed_handle();
}

void terminal::resize(unsigned cols, unsigned rows, std::error_code& ec) {
    std::string what;
    if ((ec = detail::check_size(cols, rows, "terminal::resize", what))) return;
    if (!*this) {
        ec = errc::closed;
        return;
    }
    ec = detail::terminal_resize(*s_->ep, {static_cast<std::uint16_t>(cols), static_cast<std::uint16_t>(rows)});
}

void terminal::resize(unsigned cols, unsigned rows) {
    std::string what;
    if (auto ec = detail::check_size(cols, rows, "terminal::resize", what)) throw_error(ec, what);
    if (!*this) throw_error(errc::closed, "terminal::resize: the terminal is closed (or was never opened)");
    if (auto ec = detail::terminal_resize(*s_->ep, {static_cast<std::uint16_t>(cols), static_cast<std::uint16_t>(rows)}))
        throw_error(ec, "terminal::resize(" + detail::dimensions(cols, rows) + ")");
}

terminal_size terminal::size(std::error_code& ec) const {
    terminal_size out{0, 0};
    if (!*this) {
        ec = errc::closed;
        return out;
    }
    ec = detail::terminal_get_size(*s_->ep, out);
    if (ec) out = {0, 0};
    return out;
}

terminal_size terminal::size() const {
    if (!*this) throw_error(errc::closed, "terminal::size: the terminal is closed (or was never opened)");
    std::error_code ec;
    auto out = size(ec);
    if (ec) throw_error(ec, "terminal::size");
    return out;
}

void terminal::close() noexcept {
    if (s_) s_->ep.reset();  // the deleter runs terminal_close first
}

}  // namespace tether
