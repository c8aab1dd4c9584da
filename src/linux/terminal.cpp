// Linux backend: terminals (detail/backend.hpp, section 2). A pseudo-terminal from /dev/ptmx,
// both ends close-on-exec from birth: the master by posix_openpt(O_CLOEXEC), the slave by
// TIOCGPTPEER (Linux 4.13), which opens it through the master, so no path is looked up and no
// other process's pty can be opened by a race on /dev/pts/N; where TIOCGPTPEER is missing,
// ptsname_r and open(O_CLOEXEC). O_NOCTTY on both: the terminal must never become *our*
// controlling terminal (a session leader without one would acquire it by open()).
//
// The master is non-blocking (it is ours alone: the child has the slave, a file of its own).
// A blocking write to a master can wait for ever: once the terminal's buffer is full (a child
// that does not read, or has exited with lines unread) write() sleeps, and no deadline or
// poller can take it back. Non-blocking, every tether call still waits as asked (poll), a
// poller or run() goes on with its other work, and a write to a session that has ended says
// errc::peer_gone. A raw read() or write() of input()/output() may say EAGAIN.
#include <tether/error.hpp>

#include "detail/backend.hpp"
#include "linux/terminal.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)  // Linux 4.13; older headers lack it
#endif

namespace tether::detail {
namespace {

std::error_code fail(std::string& what, const char* step) {
    auto ec = last_os_error();
    what = step;
    return ec;
}

int open_slave(int master) noexcept {
    int fd = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0 || (errno != EINVAL && errno != ENOTTY)) return fd;
    char name[PATH_MAX];
    if (::ptsname_r(master, name, sizeof name) != 0) return -1;
    return ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
}

std::error_code open_pty(terminal_endpoint& t, std::string& what) {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (master < 0) return fail(what, "posix_openpt (/dev/ptmx)");
    t.master.reset(master);
    if (::unlockpt(master) != 0) return fail(what, "unlockpt");
    int slave = open_slave(master);
    if (slave < 0) return fail(what, "open the terminal's child side (TIOCGPTPEER)");
    t.slave.reset(slave);
    return {};
}

}  // namespace

void terminal_endpoint_deleter::operator()(terminal_endpoint* t) const noexcept {
    if (t == nullptr) return;
    terminal_close(*t);
    delete t;
}

terminal_ptr terminal_create(terminal_size size, std::error_code& ec, std::string& what) {
    terminal_ptr t(new terminal_endpoint);
    if ((ec = open_pty(*t, what))) return nullptr;
    if ((ec = terminal_resize(*t, size))) {
        what = "set the terminal's size (TIOCSWINSZ)";
        return nullptr;
    }
    return t;
}

borrowed_handle terminal_input(const terminal_endpoint& t) noexcept { return t.master.borrow(); }
borrowed_handle terminal_output(const terminal_endpoint& t) noexcept { return t.master.borrow(); }

std::error_code terminal_resize(terminal_endpoint& t, terminal_size size) noexcept {
    winsize ws{};
    ws.ws_col = size.cols;
    ws.ws_row = size.rows;
    if (::ioctl(t.master.get(), TIOCSWINSZ, &ws) != 0) return last_os_error();
    return {};
}

std::error_code terminal_get_size(const terminal_endpoint& t, terminal_size& size) noexcept {
    winsize ws{};
    if (::ioctl(t.master.get(), TIOCGWINSZ, &ws) != 0) return last_os_error();
    size = {ws.ws_col, ws.ws_row};
    return {};
}

void terminal_close(terminal_endpoint& t) noexcept {
    t.slave.reset();
    t.master.reset();
}

}  // namespace tether::detail
