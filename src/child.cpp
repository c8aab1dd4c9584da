// tether::child, once for every backend: the checks, the messages and the destructor's policy.
// The process itself is reached only through the contract's process_* and tree_end hooks
// (detail/backend.hpp, section 3).
#include <tether/spawn.hpp>

#include <tether/error.hpp>

#include "detail/backend.hpp"
#include "detail/deadline.hpp"
#include "detail/terminal.hpp"

#include <string>
#include <utility>

namespace tether {

/// The one way to make a child object: spawn() (src/spawn.cpp) with what launch() gave it.
struct child_access {
    static child make(detail::launched&& l, bool kill_on_destroy) {
        child c;
        c.pid_ = l.pid;
        c.process_ = std::move(l.process);
        c.kill_on_destroy_ = kill_on_destroy;
        c.stdin_ = std::move(l.parent_stdio[0]);
        c.stdout_ = std::move(l.parent_stdio[1]);
        c.stderr_ = std::move(l.parent_stdio[2]);
        c.terminal_ = detail::make_terminal(std::move(l.terminal));
        c.tree_ = std::move(l.tree);
        return c;
    }
    static child make_detached(std::int64_t pid) {
        child c;
        c.pid_ = pid;
        c.detached_ = true;
        return c;
    }
};

namespace detail {
child make_child(launched&& l, bool kill_on_destroy, bool detached) {
    return detached ? child_access::make_detached(l.pid) : child_access::make(std::move(l), kill_on_destroy);
}
}  // namespace detail

namespace {

std::string who(std::int64_t pid) { return "child " + std::to_string(pid); }

// A detached child is not ours (it was re-parented): nothing to wait for or signal.
void refuse_detached(bool is_detached, std::int64_t pid, const char* what) {
    if (is_detached)
        throw_error(errc::not_supported, std::string(what) + " on detached " + who(pid) +
                                             " (spawn_options::detached): it is not our child");
}

}  // namespace

child::child(child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      process_(std::move(o.process_)),
      stdin_(std::move(o.stdin_)),
      stdout_(std::move(o.stdout_)),
      stderr_(std::move(o.stderr_)),
      terminal_(std::move(o.terminal_)),
      status_(std::exchange(o.status_, std::nullopt)),
      kill_on_destroy_(o.kill_on_destroy_),
      detached_(std::exchange(o.detached_, false)),
      tree_(std::move(o.tree_)) {}

child& child::operator=(child&& o) noexcept {
    if (this != &o) {
        // The child we held meets the destructor's policy (reaped, killed or detached) in `old`;
        // no destroy-and-placement-new, so this object is never without a lifetime.
        child old(std::move(*this));
        pid_ = std::exchange(o.pid_, -1);
        process_ = std::move(o.process_);
        stdin_ = std::move(o.stdin_);
        stdout_ = std::move(o.stdout_);
        stderr_ = std::move(o.stderr_);
        terminal_ = std::move(o.terminal_);
        status_ = std::exchange(o.status_, std::nullopt);
        kill_on_destroy_ = o.kill_on_destroy_;
        detached_ = std::exchange(o.detached_, false);
        tree_ = std::move(o.tree_);
    }
    return *this;
}

// Never throws and never leaves a zombie without a way to reap it: a child whose state cannot
// be settled here is abandoned to the backend (POSIX: the detached list, which reap_detached()
// empties).
child::~child() {
    if (pid_ < 0 || status_ || detached_) return;
    std::error_code ec;
    if (kill_on_destroy_) {
        // SIGKILL / TerminateProcess cannot be caught or ignored, so the wait below is short.
        (void)detail::process_end(pid_, process_, true);
        if (detail::process_wait(pid_, process_, detail::deadline::never(), ec)) return;
    } else if (detail::process_wait(pid_, process_, detail::deadline::now(), ec)) {
        return;  // already ended: reaped now
    }
    detail::process_abandon(pid_, std::move(process_));
}

child::operator bool() const noexcept { return pid_ >= 0; }

void child::detach() noexcept {
    if (pid_ < 0) return;
    if (!status_ && !detached_) detail::process_abandon(pid_, std::move(process_));
    pid_ = -1;
    process_.reset();
}

std::size_t reap_detached() { return detail::reap_abandoned(); }

// One wait until `d`; the status is kept, so every later call returns it.
static std::optional<exit_status> wait_until(std::int64_t pid, unique_handle& process, const detail::deadline& d) {
    std::error_code ec;
    auto st = detail::process_wait(pid, process, d, ec);
    if (ec) throw_error(ec, "wait for " + who(pid));
    return st;
}

exit_status child::wait() {
    if (status_) return *status_;
    if (pid_ < 0) throw_error(errc::invalid_argument, "wait on an empty child");
    refuse_detached(detached_, pid_, "wait");
    status_ = wait_until(pid_, process_, detail::deadline::never());
    return *status_;
}

std::optional<exit_status> child::try_wait() {
    if (status_ || pid_ < 0) return status_;
    refuse_detached(detached_, pid_, "try_wait");
    status_ = wait_until(pid_, process_, detail::deadline::now());
    return status_;
}

std::optional<exit_status> child::wait_for(milliseconds timeout) {
    if (status_ || pid_ < 0) return status_;
    refuse_detached(detached_, pid_, "wait_for");
    // One saturating deadline type for every timed call: milliseconds::max() means no limit.
    status_ = wait_until(pid_, process_, detail::deadline::after(timeout));
    return status_;
}

void child::signal(int sig) {
    if (status_ || pid_ < 0) return;  // reaped: the id may belong to someone else now
    refuse_detached(detached_, pid_, "signal");
    auto ec = detail::process_signal(pid_, process_, sig);
    if (ec == errc::not_supported)
        throw_error(ec, "signal " + std::to_string(sig) + " to " + who(pid_) +
                            ": this system has no signals; use kill() or terminate()");
    if (ec) throw_error(ec, "signal " + std::to_string(sig) + " to " + who(pid_));
}

// kill() and terminate(): no effect once reaped (the id may have been reused).
static void end_child(std::int64_t pid, const unique_handle& process, bool reaped, bool detached, bool hard) {
    if (reaped || pid < 0) return;
    refuse_detached(detached, pid, hard ? "kill" : "terminate");
    if (auto ec = detail::process_end(pid, process, hard)) throw_error(ec, (hard ? "kill " : "terminate ") + who(pid));
}

void child::kill() { end_child(pid_, process_, status_.has_value(), detached_, true); }
void child::terminate() { end_child(pid_, process_, status_.has_value(), detached_, false); }

// The tree is ended even after the child was reaped where that is safe (a cgroup, a job): the
// backend knows which (tree_end's `reaped`). A child without a tree of its own: kill/terminate.
static void end_tree(child& c, detail::process_tree* tree, bool detached, bool reaped, bool hard) {
    if (c.pid() < 0) return;
    refuse_detached(detached, c.pid(), hard ? "kill_tree" : "terminate_tree");
    if (tree == nullptr) return hard ? c.kill() : c.terminate();
    if (auto ec = detail::tree_end(*tree, c.pid(), reaped, hard))
        throw_error(ec, std::string(hard ? "kill" : "terminate") + " the tree of " + who(c.pid()));
}

void child::kill_tree() { end_tree(*this, tree_.get(), detached_, status_.has_value(), true); }
void child::terminate_tree() { end_tree(*this, tree_.get(), detached_, status_.has_value(), false); }

namespace detail::asio_glue {
// For include/tether/asio.hpp: a process handle of its own, so Asio may set flags on it (on a
// pidfd O_NONBLOCK makes waitid non-blocking) without touching the child object's.
unique_handle open_process_handle(const child& c, std::error_code& ec) noexcept {
    if (c.pid() <= 0) {
        ec = make_error_code(errc::closed);
        return {};
    }
    return process_open_handle(c.pid(), c.process_handle(), ec);
}
}  // namespace detail::asio_glue

// The error_code overloads share the throwing ones' checks; only the message is dropped.
template <class F>
static auto into_ec(std::error_code& ec, F f) -> decltype(f()) {
    try {
        auto r = f();
        ec.clear();
        return r;
    } catch (const std::system_error& e) {
        ec = e.code();
        return {};
    }
}

exit_status child::wait(std::error_code& ec) {
    return into_ec(ec, [&] { return wait(); });
}
std::optional<exit_status> child::try_wait(std::error_code& ec) {
    return into_ec(ec, [&] { return try_wait(); });
}
void child::kill(std::error_code& ec) {
    into_ec(ec, [&] { return kill(), 0; });
}
void child::terminate(std::error_code& ec) {
    into_ec(ec, [&] { return terminate(), 0; });
}
void child::kill_tree(std::error_code& ec) {
    into_ec(ec, [&] { return kill_tree(), 0; });
}
void child::terminate_tree(std::error_code& ec) {
    into_ec(ec, [&] { return terminate_tree(), 0; });
}

exit_status child::wait_or_kill(milliseconds timeout) {
    if (timeout.count() < 0)
        throw_error(errc::invalid_argument,
                    "wait_or_kill: timeout " + std::to_string(timeout.count()) + " ms is negative");
    if (pid_ < 0) throw_error(errc::invalid_argument, "wait_or_kill on an empty child");
    // Zero: one look, no wait (try_wait), then the kill.
    if (auto st = timeout.count() == 0 ? try_wait() : wait_for(timeout)) return *st;
    if (tree_) {
        kill_tree();
    } else {
        kill();
    }
    return wait();
}

}  // namespace tether
