// Portable parts of tether::child: moving touches only the members the public header declares.
#include <tether/spawn.hpp>

#include <tether/error.hpp>

#include <string>
#include <utility>

namespace tether {

child::child(child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      process_(std::move(o.process_)),
      stdin_(std::move(o.stdin_)),
      stdout_(std::move(o.stdout_)),
      stderr_(std::move(o.stderr_)),
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
        status_ = std::exchange(o.status_, std::nullopt);
        kill_on_destroy_ = o.kill_on_destroy_;
        detached_ = std::exchange(o.detached_, false);
        tree_ = std::move(o.tree_);
    }
    return *this;
}

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
