// Windows backend: the test switches (testing/test_hooks.hpp) and what the library reads of them
// (testing/switches.hpp), kept together here so that no production file holds test state.
// (current_handle_vault() reads the vault's own state: it is defined in handle_vault.cpp.)
#include "testing/switches.hpp"
#include "testing/test_hooks.hpp"

#include <atomic>
#include <mutex>
#include <utility>

namespace tether::detail {
namespace {
std::atomic<long> random_failure{0};
std::atomic<std::int64_t> refused_pid{0};
std::atomic<bool> name_planted{false};  // checked first, so an unplanted call takes no lock
std::mutex planted_mutex;
std::wstring planted_name;
}  // namespace

void test_hooks::pipe_random_fails(long status) noexcept { random_failure.store(status); }
void test_hooks::holders_refuse_open(std::int64_t pid) noexcept { refused_pid.store(pid); }
void test_hooks::plant_first_pipe_name(std::wstring name) {
    std::lock_guard lock(planted_mutex);
    planted_name = std::move(name);
    name_planted.store(!planted_name.empty());
}

long test_switches::pipe_random_failure() noexcept { return random_failure.load(std::memory_order_relaxed); }
std::int64_t test_switches::holders_refused_pid() noexcept { return refused_pid.load(std::memory_order_relaxed); }
std::wstring test_switches::take_planted_pipe_name() {
    if (!name_planted.load()) return {};
    std::lock_guard lock(planted_mutex);
    name_planted.store(false);
    return std::exchange(planted_name, {});
}

}  // namespace tether::detail
