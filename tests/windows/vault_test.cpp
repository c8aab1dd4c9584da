// Windows only: where a child inherits from (src/windows/child_handles.hpp). Directly from us when
// every handle it gets is already inheritable here; otherwise from the one long-lived handle vault,
// which sits in a private kill-on-close job, dies with its owner, is replaced when it died, and
// whose job the children do not join; or from inheritable copies in our own process with
// spawn_options::windows_direct_inheritance.
#include "support/harness.hpp"
#include "support/windows_util.hpp"
#include "testing/test_hooks.hpp"
#include "windows/win.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <winternl.h>

using namespace std::chrono_literals;
using tether_test::inheritable_copy;

namespace {

DWORD recorded_parent(HANDLE process) {
    PROCESS_BASIC_INFORMATION info{};
    ULONG len = 0;
    if (::NtQueryInformationProcess(process, ProcessBasicInformation, &info, sizeof info, &len) != 0) return 0;
    return static_cast<DWORD>(info.InheritedFromUniqueProcessId);
}


bool in_job(HANDLE process, HANDLE job) {
    BOOL result = FALSE;
    if (!::IsProcessInJob(process, job, &result)) throw std::runtime_error("IsProcessInJob");
    return result != FALSE;
}

// A child that blocks on a stdin pipe, so it is still running while the test looks at it.
tether::child blocked_child(tether::unique_handle& in) {
    auto opt = tether_test::role_options("block_on_stdin");
    opt.in = tether::stdio::pipe();
    opt.out = tether::stdio::null();
    auto c = tether::spawn(std::move(opt));
    in = c.take_stdin();
    return c;
}

}  // namespace

TEST(WindowsVault, NoVaultWhenEveryHandleIsAlreadyInheritable) {
    // The caller made these inheritable: passing them makes nothing inheritable that was not,
    // so the child is created by us, as by any CreateProcess, and has its true parent.
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("write_to_named", {"out", "hello"});
    opt.in = tether::stdio::from(inheritable_copy(theirs));
    opt.out = tether::stdio::from(inheritable_copy(theirs));
    opt.err = tether::stdio::to_stdout();
    opt.pass(inheritable_copy(theirs), "out");
    theirs.reset();
    auto c = tether::spawn(std::move(opt));
    EXPECT_EQ(recorded_parent(c.process_handle().get()), ::GetCurrentProcessId())
        << "the child went through the vault although nothing needed one";
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(ours, 20s, ec), "hello");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(c.wait().success());
}

TEST(WindowsVault, OneLongLivedContainedVaultWhoseJobTheChildrenDoNotJoin) {
    tether::unique_handle in1, in2;
    auto c1 = blocked_child(in1);
    auto c2 = blocked_child(in2);
    auto vault = tether::detail::test_hooks::current_handle_vault();
    ASSERT_NE(vault.process, nullptr);
    DWORD vault_pid = ::GetProcessId(vault.process);
    EXPECT_NE(vault_pid, ::GetCurrentProcessId());
    EXPECT_EQ(recorded_parent(c1.process_handle().get()), vault_pid) << "a child not made through the vault";
    EXPECT_EQ(recorded_parent(c2.process_handle().get()), vault_pid) << "a second vault for the second spawn";
    EXPECT_EQ(::WaitForSingleObject(vault.process, 0), static_cast<DWORD>(WAIT_TIMEOUT)) << "the vault ended";
    EXPECT_TRUE(in_job(vault.process, vault.job)) << "the vault is not in its job";
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    ASSERT_TRUE(::QueryInformationJobObject(vault.job, JobObjectExtendedLimitInformation, &limits, sizeof limits,
                                            nullptr));
    if (limits.BasicLimitInformation.LimitFlags == 0)
        std::printf("NOTE: QueryInformationJobObject reports no limits (wine 8 does not); "
                    "TheVaultDiesWithItsOwner checks kill-on-close by its effect\n");
    else
        EXPECT_NE(limits.BasicLimitInformation.LimitFlags & JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, 0u);
    EXPECT_FALSE(in_job(c1.process_handle().get(), vault.job)) << "a child would die with the vault's job";
    in1.reset();
    in2.reset();
    EXPECT_EQ(c1.wait().code, 3);
    EXPECT_EQ(c2.wait().code, 3);
}

TEST(WindowsVault, TheVaultKeepsNoCopyAfterSpawn) {
    // The child's stdout end went through the vault; once the child exits, end-of-file comes,
    // so no copy of it stayed in the (still running) vault.
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(out, 20s, ec), "");
    EXPECT_FALSE(ec) << "end-of-file delayed: " << ec.message();
    EXPECT_TRUE(c.wait().success());
    auto vault = tether::detail::test_hooks::current_handle_vault();
    ASSERT_NE(vault.process, nullptr);
    EXPECT_EQ(::WaitForSingleObject(vault.process, 0), static_cast<DWORD>(WAIT_TIMEOUT));
}

TEST(WindowsVault, ADeadVaultIsReplaced) {
    tether::unique_handle in;
    auto first = blocked_child(in);
    auto vault = tether::detail::test_hooks::current_handle_vault();
    ASSERT_NE(vault.process, nullptr);
    DWORD old_pid = ::GetProcessId(vault.process);
    ASSERT_TRUE(::TerminateProcess(vault.process, 9));
    ASSERT_EQ(::WaitForSingleObject(vault.process, 10000), WAIT_OBJECT_0);
    tether::unique_handle in2;
    auto second = blocked_child(in2);
    DWORD new_parent = recorded_parent(second.process_handle().get());
    EXPECT_NE(new_parent, old_pid) << "spawned through the dead vault's id";
    EXPECT_NE(new_parent, ::GetCurrentProcessId());
    EXPECT_EQ(::GetProcessId(tether::detail::test_hooks::current_handle_vault().process), new_parent);
    // The first child did not die with its vault.
    EXPECT_FALSE(first.try_wait().has_value());
    in.reset();
    in2.reset();
    EXPECT_EQ(first.wait().code, 3);
    EXPECT_EQ(second.wait().code, 3);
}

TETHER_CHILD_ROLE(vault_owner) {
    // Spawns through a vault, says the vault's id, then waits to be killed.
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.out = tether::stdio::null();
    opt.err = tether::stdio::null();
    if (!tether::spawn(std::move(opt)).wait().success()) return 10;
    auto vault = tether::detail::test_hooks::current_handle_vault();
    if (vault.process == nullptr) return 11;
    tether::borrowed_handle out(::GetStdHandle(STD_OUTPUT_HANDLE));
    tether::write_all(out, std::to_string(::GetProcessId(vault.process)) + "\n");
    std::byte b[1];
    (void)tether::read(tether::borrowed_handle(::GetStdHandle(STD_INPUT_HANDLE)), b);
    return 0;
}

TEST(WindowsVault, TheVaultDiesWithItsOwner) {
    // The owner is killed (a crash): its job handle closes with it, and the job kills the vault.
    auto opt = tether_test::role_options("vault_owner");
    opt.in = tether::stdio::pipe();
    opt.out = tether::stdio::pipe();
    auto owner = tether::spawn(std::move(opt));
    auto in = owner.take_stdin();
    auto out = owner.take_stdout();
    std::string line;
    std::byte b[1];
    std::error_code ec;
    while (tether::read_for(out, b, 20s, ec) == 1 && static_cast<char>(b[0]) != '\n') line += static_cast<char>(b[0]);
    ASSERT_FALSE(line.empty()) << "the owner said nothing: " << ec.message();
    DWORD vault_pid = static_cast<DWORD>(std::stoul(line));
    tether::unique_handle vault(::OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE, FALSE, vault_pid));
    ASSERT_TRUE(vault) << "vault " << vault_pid << " already gone before its owner died";
    EXPECT_EQ(::WaitForSingleObject(vault.get(), 0), static_cast<DWORD>(WAIT_TIMEOUT));
    owner.kill();
    (void)owner.wait();
    bool ended = ::WaitForSingleObject(vault.get(), 20000) == WAIT_OBJECT_0;
    EXPECT_TRUE(ended) << "the vault outlived its owner";
    if (!ended) ::TerminateProcess(vault.get(), 1);  // an orphan would hold our test runner's output open
}

TEST(WindowsVault, DirectInheritanceOptOutMakesUsTheParent) {
    auto opt = tether_test::role_options("write_to_named", {"out", "direct"});
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    opt.pass(std::move(theirs), "out");
    opt.in = tether::stdio::pipe();
    opt.windows_direct_inheritance = true;
    auto c = tether::spawn(std::move(opt));
    EXPECT_EQ(recorded_parent(c.process_handle().get()), ::GetCurrentProcessId());
    EXPECT_FALSE(tether::is_inheritable(ours)) << "our own end became inheritable";
    auto in = c.take_stdin();
    EXPECT_FALSE(tether::is_inheritable(in)) << "our stdin end became inheritable";
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(ours, 20s, ec), "direct")
        << "end-of-file delayed: the temporary inheritable copy outlived spawn (" << ec.message() << ")";
    EXPECT_TRUE(c.wait().success());
}
