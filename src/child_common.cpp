// Portable parts of tether::child: moving touches only the members the public header declares.
#include <tether/spawn.hpp>

#include <utility>

namespace tether {

child::child(child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      process_(std::move(o.process_)),
      stdin_(std::move(o.stdin_)),
      stdout_(std::move(o.stdout_)),
      stderr_(std::move(o.stderr_)),
      status_(std::exchange(o.status_, std::nullopt)),
      kill_on_destroy_(o.kill_on_destroy_) {}

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
    }
    return *this;
}

}  // namespace tether
