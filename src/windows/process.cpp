// Windows backend: a started process, for the portable child (detail/backend.hpp, section 3).
// The process HANDLE pins the process object, so its id is never reused while we hold it and
// waits never reach another process. Windows has no zombies: an abandoned child needs no
// reaping, its handle is just closed, and reap_detached() has nothing to do.
#include <tether/error.hpp>

#include "detail/backend.hpp"
#include "windows/process.hpp"
#include "windows/win.hpp"

#include <mutex>
#include <vector>

namespace tether::detail {

process_tree::~process_tree() {
    if (!kill_on_close || !job) return;
    // Kept open until we exit: the system closes it then, and the job's processes die with us.
    static std::mutex m;
    static auto* kept = new std::vector<unique_handle>;  // NOLINT: deliberately never freed
    std::lock_guard lock(m);
    kept->push_back(std::move(job));
}

// The handle stays open after the wait: a HANDLE pins the id, so process_handle() stays
// meaningful (the public header says so) and nothing can be reused behind it.
std::optional<exit_status> process_wait(std::int64_t /*pid*/, unique_handle& process, const deadline& d,
                                        std::error_code& ec) noexcept {
    DWORD w = ::WaitForSingleObject(process.get(), d.remaining_ms<DWORD>(INFINITE, INFINITE - 1));
    ec.clear();
    if (w == WAIT_TIMEOUT) return std::nullopt;
    DWORD code = 0;
    if (w != WAIT_OBJECT_0 || !::GetExitCodeProcess(process.get(), &code)) {
        ec = last_os_error();
        return std::nullopt;
    }
    exit_status s;
    s.how = exit_status::kind::exited;
    s.code = static_cast<int>(code);  // NTSTATUS-like codes (0xC0000005) come out negative
    return s;
}

// There is no polite way to end a console-less process: `hard` or not, TerminateProcess(1).
std::error_code process_end(std::int64_t /*pid*/, const unique_handle& process, bool /*hard*/) noexcept {
    if (::TerminateProcess(process.get(), 1)) return {};
    DWORD err = ::GetLastError();
    // A process that has already exited refuses with ERROR_ACCESS_DENIED: nothing to do then.
    if (::WaitForSingleObject(process.get(), 0) == WAIT_OBJECT_0) return {};
    return win_error(err);
}

std::error_code process_signal(std::int64_t /*pid*/, const unique_handle& /*process*/, int /*sig*/) noexcept {
    return make_error_code(errc::not_supported);
}

// The job is ours, so it is ended even after the child was waited for: what is left of the tree.
std::error_code tree_end(process_tree& tree, std::int64_t /*pid*/, bool /*reaped*/, bool /*hard*/) noexcept {
    if (::TerminateJobObject(tree.job.get(), 1)) return {};
    return last_os_error();
}

void process_abandon(std::int64_t /*pid*/, unique_handle /*process*/) noexcept {}

std::size_t reap_abandoned() noexcept { return 0; }

unique_handle process_open_handle(std::int64_t /*pid*/, borrowed_handle process, std::error_code& ec) noexcept {
    return process.duplicate(ec);
}

}  // namespace tether::detail
