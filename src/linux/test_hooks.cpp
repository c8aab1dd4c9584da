// Linux backend: the test switches (testing/test_hooks.hpp) and what the library reads of them
// (testing/switches.hpp), kept together here so that no production file holds test state.
#include "testing/switches.hpp"
#include "testing/test_hooks.hpp"

#include "linux/exec_child.hpp"

#include <atomic>

namespace tether::detail {
namespace {
std::atomic<close_way> forced_close_way{close_way::cloexec_range};
std::atomic<bool> fork_path{false};
std::atomic<bool> no_cgroup{false};
std::atomic<bool> exit_polling{false};
}  // namespace

void test_hooks::force_close_way(close_way way) noexcept { forced_close_way.store(way); }
void test_hooks::force_fork_path(bool on) noexcept { fork_path.store(on); }
void test_hooks::force_no_cgroup(bool on) noexcept { no_cgroup.store(on); }
void test_hooks::force_exit_polling(bool on) noexcept { exit_polling.store(on); }

close_way test_switches::first_close_way() noexcept { return forced_close_way.load(std::memory_order_relaxed); }
bool test_switches::fork_path_forced() noexcept { return fork_path.load(std::memory_order_relaxed); }
bool test_switches::no_cgroup_forced() noexcept { return no_cgroup.load(std::memory_order_relaxed); }
bool test_switches::exit_polling_forced() noexcept { return exit_polling.load(std::memory_order_relaxed); }

}  // namespace tether::detail
