// POSIX half of tests/support/lifetime_support.hpp: /proc/<pid>/stat tells gone or zombie apart.
#include "support/lifetime_support.hpp"
#include "linux/tree.hpp"
#include "testing/test_hooks.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace tether_test {

namespace {
// 'Z' or 'X' (zombie, dead), 0 if there is no such process.
char state_of(std::int64_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = s.rfind(')');
    return close == std::string::npos || close + 2 >= s.size() ? 0 : s[close + 2];
}
}  // namespace

void take_test_switches() {
    const char* off = std::getenv(no_cgroup_variable);
    if (off != nullptr && std::string(off) == "1") tether::detail::test_hooks::force_no_cgroup(true);
}

bool running_now(std::int64_t pid) {
    char st = state_of(pid);
    return st != 0 && st != 'Z' && st != 'X';
}

void end_if_running(std::int64_t pid) {
    if (running_now(pid)) ::kill(static_cast<pid_t>(pid), SIGKILL);
}

bool ended_within(std::int64_t pid, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (running_now(pid)) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a poll with a deadline
    }
    return true;
}

}  // namespace tether_test

namespace tether_test {
std::string no_whole_tree_on_parent_exit() {
    std::string why = tether::detail::cgroup_unavailable_reason();
    if (!why.empty()) return "no per-child cgroup here (" + why + "): only PR_SET_PDEATHSIG covers the child itself";
    return {};
}
}  // namespace tether_test
