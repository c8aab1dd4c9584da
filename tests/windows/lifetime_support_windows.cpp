// Windows half of tests/support/lifetime_support.hpp: a process handle opened by id is signalled once
// the process has ended; no such process, and it has ended long ago.
#include "support/lifetime_support.hpp"

#include <windows.h>

namespace tether_test {

namespace {
// WAIT_OBJECT_0 (ended), WAIT_TIMEOUT (running) or WAIT_FAILED (no such process).
DWORD look(std::int64_t pid, DWORD ms) {
    HANDLE h = ::OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
    if (h == nullptr) return WAIT_FAILED;
    DWORD w = ::WaitForSingleObject(h, ms);
    ::CloseHandle(h);
    return w;
}
}  // namespace

void take_test_switches() {}  // the Windows backend has no switch a child role must follow

bool running_now(std::int64_t pid) { return look(pid, 0) == WAIT_TIMEOUT; }

void end_if_running(std::int64_t pid) {
    HANDLE h = ::OpenProcess(PROCESS_TERMINATE, FALSE, static_cast<DWORD>(pid));
    if (h == nullptr) return;
    ::TerminateProcess(h, 1);
    ::CloseHandle(h);
}

bool ended_within(std::int64_t pid, std::chrono::milliseconds limit) {
    return look(pid, static_cast<DWORD>(limit.count())) != WAIT_TIMEOUT;
}

}  // namespace tether_test

namespace tether_test {
std::string no_whole_tree_on_parent_exit() { return {}; }  // the job takes the whole tree
}  // namespace tether_test
