// Windows backend: the child object. The process HANDLE pins the process object, so its id is
// never reused while we hold it and waits never reach another process.
//
// Destructor policy: Windows has no zombies, so a running child needs no reaping: ~child closes
// the handle and lets the child run on (unless spawn_options::kill_on_destroy). reap_detached()
// has nothing to do here and always returns 0.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/deadline.hpp"
#include "windows/process.hpp"
#include "windows/win.hpp"

#include <chrono>
#include <mutex>
#include <vector>

namespace tether {

struct child_access {
    static child make(std::int64_t pid, unique_handle process, bool kill_on_destroy, unique_handle in,
                      unique_handle out, unique_handle err, std::shared_ptr<detail::process_tree> tree) {
        child c;
        c.tree_ = std::move(tree);
        c.pid_ = pid;
        c.process_ = std::move(process);
        c.kill_on_destroy_ = kill_on_destroy;
        c.stdin_ = std::move(in);
        c.stdout_ = std::move(out);
        c.stderr_ = std::move(err);
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
child make_child(std::int64_t pid, unique_handle process, bool kill_on_destroy, unique_handle in,
                 unique_handle out, unique_handle err, std::shared_ptr<process_tree> tree) {
    return child_access::make(pid, std::move(process), kill_on_destroy, std::move(in), std::move(out),
                              std::move(err), std::move(tree));
}
child make_detached_child(std::int64_t pid) { return child_access::make_detached(pid); }

process_tree::~process_tree() {
    if (!kill_on_close || !job) return;
    // Kept open until we exit: the system closes it then, and the job's processes die with us.
    static std::mutex m;
    static auto* kept = new std::vector<unique_handle>;  // NOLINT: deliberately never freed
    std::lock_guard lock(m);
    kept->push_back(std::move(job));
}
}  // namespace detail

namespace {

std::string who(std::int64_t pid) { return "child " + std::to_string(pid); }

// A detached child is not ours to wait for or end (spawn_options::detached).
void refuse_detached(bool is_detached, std::int64_t pid, const char* what) {
    if (is_detached)
        throw_error(errc::not_supported, std::string(what) + " on detached " + who(pid) +
                                             " (spawn_options::detached): it is not our child");
}

// One wait on the process handle; nullopt if it is still running after `ms`.
std::optional<exit_status> wait_once(HANDLE process, DWORD ms, std::int64_t pid) {
    DWORD w = ::WaitForSingleObject(process, ms);
    if (w == WAIT_TIMEOUT) return std::nullopt;
    if (w != WAIT_OBJECT_0) throw_error(last_os_error(), "wait for " + who(pid));
    DWORD code = 0;
    if (!::GetExitCodeProcess(process, &code)) throw_error(last_os_error(), "exit code of " + who(pid));
    exit_status s;
    s.how = exit_status::kind::exited;
    s.code = static_cast<int>(code);  // NTSTATUS-like codes (0xC0000005) come out negative
    return s;
}

}  // namespace

std::size_t reap_detached() { return 0; }

child::~child() {
    if (pid_ < 0 || status_ || !kill_on_destroy_) return;  // the handle closes itself
    try {
        kill();
        wait();
    } catch (const std::system_error&) {
        // Nothing more a destructor can do; the handle is still closed.
    }
}

child::operator bool() const noexcept { return pid_ >= 0; }

void child::detach() noexcept {
    pid_ = -1;
    process_.reset();
}

exit_status child::wait() {
    if (status_) return *status_;
    if (pid_ < 0) throw_error(errc::invalid_argument, "wait on an empty child");
    refuse_detached(detached_, pid_, "wait");
    status_ = wait_once(process_.get(), INFINITE, pid_);
    return *status_;
}

std::optional<exit_status> child::try_wait() {
    if (status_ || pid_ < 0) return status_;
    refuse_detached(detached_, pid_, "try_wait");
    status_ = wait_once(process_.get(), 0, pid_);
    return status_;
}

std::optional<exit_status> child::wait_for(milliseconds timeout) {
    if (status_ || pid_ < 0) return status_;
    refuse_detached(detached_, pid_, "wait_for");
    // One saturating deadline type for every timed call: milliseconds::max() means no limit.
    auto d = detail::deadline::after(timeout);
    status_ = wait_once(process_.get(), d.remaining_ms<DWORD>(INFINITE, INFINITE - 1), pid_);
    return status_;
}

void child::kill() {
    if (status_ || pid_ < 0) return;
    refuse_detached(detached_, pid_, "kill");
    if (::TerminateProcess(process_.get(), 1)) return;
    DWORD err = ::GetLastError();
    // A process that has already exited refuses with ERROR_ACCESS_DENIED: nothing to do then.
    if (::WaitForSingleObject(process_.get(), 0) == WAIT_OBJECT_0) return;
    throw_error(detail::win_error(err), "TerminateProcess " + who(pid_));
}

void child::terminate() { kill(); }

// The job is ours, so it is ended even after the child was waited for: what is left of the tree.
void child::kill_tree() {
    if (pid_ < 0) return;
    refuse_detached(detached_, pid_, "kill_tree");
    if (!tree_) return kill();
    if (!::TerminateJobObject(tree_->job.get(), 1)) throw_error(last_os_error(), "TerminateJobObject of " + who(pid_));
}

void child::terminate_tree() { kill_tree(); }

void child::signal(int sig) {
    throw_error(errc::not_supported, "signal " + std::to_string(sig) + " to " + who(pid_) +
                                         ": Windows has no signals; use kill() or terminate()");
}

}  // namespace tether
