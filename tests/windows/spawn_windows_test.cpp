// Windows only: spawn. Handle lists and the manifest, failure paths that give handles back,
// batch files (BatBadBut), child waits and termination, error_code overloads, PATH search.
#include "support/harness.hpp"
#include "support/windows_util.hpp"
#include "detail/backend.hpp"
#include "windows/win.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <winternl.h>

using namespace std::chrono_literals;
using tether_test::inheritable_copy;

namespace {

std::string temp_dir() {
    wchar_t buf[MAX_PATH];
    DWORD n = ::GetTempPathW(MAX_PATH, buf);
    return tether::detail::narrow(std::wstring(buf, n));
}

// Expects spawn to fail with `want`, the message to contain `words`, and every handle to be
// still owned by the options afterwards.
void expect_spawn_failure(tether::spawn_options opt, std::error_code want, const std::string& words) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto value = theirs.get();
    opt.pass(std::move(theirs), "kept");
    try {
        (void)tether::spawn(std::move(opt));
        ADD_FAILURE() << "spawn succeeded";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), want) << e.what();
        EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    ASSERT_EQ(opt.handles.size(), 1u);
    EXPECT_EQ(opt.handles[0].h.get(), value) << "the options must still own the passed handle";
    DWORD flags = 0;
    EXPECT_TRUE(::GetHandleInformation(value, &flags)) << "the passed handle was closed on failure";
    EXPECT_EQ(flags & HANDLE_FLAG_INHERIT, 0u) << "the passed handle was left inheritable";
    // The error_code overload reports the same and returns an empty child.
    std::error_code ec;
    auto c = tether::spawn(std::move(opt), ec);
    EXPECT_EQ(ec, want);
    EXPECT_FALSE(c);
    EXPECT_TRUE(opt.handles[0].h);
}

}  // namespace

TETHER_CHILD_ROLE(check_manifest) {
    // The manifest names our handle, it is a pipe, it is no longer inheritable once adopted,
    // and a second take is refused.
    auto h = tether::inherited("data");
    if (::GetFileType(h.get()) != FILE_TYPE_PIPE) return 10;
    if (tether::is_inheritable(h)) return 11;
    std::error_code ec;
    (void)tether::inherited("data", ec);
    if (ec != tether::errc::unknown_handle_name) return 12;
    (void)tether::inherited("absent", ec);
    if (ec != tether::errc::unknown_handle_name) return 13;
    if (tether::inherited_names() != std::vector<std::string>{"data"}) return 14;
    tether::write_all(h, args.at(0));
    return 0;
}

TEST(WindowsSpawn, ManifestAndHandleArgReachTheChild) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("check_manifest", {tether::handle_arg(theirs)});
    opt.pass(std::move(theirs), "data");
    auto c = tether::spawn(std::move(opt));
    std::error_code ec;
    auto text = tether::read_to_end_for(ours, 20s, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(c.wait().code, 0);
    // The child saw its own value of the handle in argv, in decimal.
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.find_first_not_of("0123456789"), std::string::npos) << text;
}

TETHER_CHILD_ROLE(no_manifest_here) {
    std::error_code ec;
    (void)tether::inherited("data", ec);
    return ec == tether::errc::no_manifest ? 0 : 1;
}

TEST(WindowsSpawn, GrandchildOrStrangerIgnoresAManifest) {
    // A manifest written by another live process (not the child's creator: the grandchild
    // case) is not the child's.
    auto stranger_opt = tether_test::role_options("block_on_stdin");
    stranger_opt.in = tether::stdio::pipe();
    auto stranger = tether::spawn(std::move(stranger_opt));
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("no_manifest_here");
    opt.env_set[tether::manifest_variable] = "data:" + tether::to_handle_string(theirs);
    opt.env_set[tether::manifest_parent_variable] = std::to_string(stranger.pid());
    opt.pass(std::move(theirs));
    EXPECT_EQ(tether::spawn(std::move(opt)).wait().code, 0);
    // Without any handles passed there is no manifest at all.
    EXPECT_EQ(tether::spawn(tether_test::role_options("no_manifest_here")).wait().code, 0);
    stranger.kill();
    (void)stranger.wait();
}

TEST(WindowsSpawn, AManifestEntryWithoutTheObjectsIdentityIsRefused) {
    // What a recycled parent id allows: the writer's id matches our parent (here: truly us, the
    // handles are inheritable already, so there is no vault) and the value is open in the child,
    // but the entry does not carry the identity of that object: not ours.
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("no_manifest_here");
    opt.in = tether::stdio::from(inheritable_copy(theirs));
    opt.out = tether::stdio::from(inheritable_copy(theirs));
    opt.err = tether::stdio::to_stdout();
    auto passed = inheritable_copy(theirs);
    opt.env_set[tether::manifest_variable] = "data:" + tether::to_handle_string(passed);
    opt.env_set[tether::manifest_parent_variable] = std::to_string(::GetCurrentProcessId());
    opt.pass(std::move(passed));
    auto c = tether::spawn(std::move(opt));
    EXPECT_EQ(c.wait().code, 0) << "the child adopted a handle its manifest did not identify";
    // The same with another object's identity.
    auto [ours2, theirs2] = tether::make_pipe(tether::direction::in);
    auto opt2 = tether_test::role_options("no_manifest_here");
    opt2.in = tether::stdio::from(inheritable_copy(theirs2));
    opt2.out = tether::stdio::from(inheritable_copy(theirs2));
    opt2.err = tether::stdio::to_stdout();
    auto passed2 = inheritable_copy(theirs2);
    opt2.env_set[tether::manifest_variable] =
        "data:" + tether::to_handle_string(passed2) + "@" + tether::detail::handle_identity(ours.get());
    opt2.env_set[tether::manifest_parent_variable] = std::to_string(::GetCurrentProcessId());
    opt2.pass(std::move(passed2));
    EXPECT_EQ(tether::spawn(std::move(opt2)).wait().code, 0) << "the child adopted another object";
}

TEST(WindowsSpawn, HandleIdentityNamesTheObject) {
    auto [r1, w1] = tether::make_pipe();
    auto [r2, w2] = tether::make_pipe();
    auto id = tether::detail::handle_identity(w1.get());
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(tether::detail::handle_identity(w1.duplicate().get()), id) << "a duplicate is the same object";
    EXPECT_NE(tether::detail::handle_identity(w2.get()), id);
    std::string path = temp_dir() + "tether-identity-test.txt";
    std::ofstream(path) << "x";
    tether::unique_handle file(::CreateFileW(tether::detail::widen(path).c_str(), GENERIC_READ, FILE_SHARE_READ,
                                             nullptr, OPEN_EXISTING, 0, nullptr));
    ASSERT_TRUE(file);
    auto file_id = tether::detail::handle_identity(file.get());
    EXPECT_TRUE(file_id.rfind("2.", 0) == 0 || file_id.rfind("3.", 0) == 0) << file_id;
    tether::unique_handle again(::CreateFileW(tether::detail::widen(path).c_str(), GENERIC_READ, FILE_SHARE_READ,
                                              nullptr, OPEN_EXISTING, 0, nullptr));
    EXPECT_EQ(tether::detail::handle_identity(again.get()), file_id) << "another open of the same file";
    file.reset();
    again.reset();
    ::DeleteFileW(tether::detail::widen(path).c_str());
    EXPECT_EQ(tether::detail::handle_identity(reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(0x7ff8))), "");
}

TEST(WindowsSpawn, MissingProgramFailsNamingItAndKeepsHandles) {
    tether::spawn_options opt;
    opt.argv = {"tether-no-such-program-xyz"};
    expect_spawn_failure(std::move(opt), tether::detail::win_error(ERROR_FILE_NOT_FOUND),
                         "tether-no-such-program-xyz");
    tether::spawn_options abs;
    abs.argv = {"C:\\no\\such\\dir\\prog.exe"};
    expect_spawn_failure(std::move(abs), tether::detail::win_error(ERROR_PATH_NOT_FOUND), "not found");
}

TEST(WindowsSpawn, DirectoryAsProgramFails) {
    tether::spawn_options opt;
    opt.argv = {temp_dir()};
    expect_spawn_failure(std::move(opt), tether::detail::win_error(ERROR_ACCESS_DENIED), "is a directory");
}

TEST(WindowsSpawn, BadWorkingDirectoryFails) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.cwd = "C:\\no\\such\\working\\dir";
    expect_spawn_failure(std::move(opt), tether::detail::win_error(ERROR_PATH_NOT_FOUND),
                         "working directory 'C:\\no\\such\\working\\dir'");
}

TEST(WindowsSpawn, PassAtIsNotSupported) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    opt.pass_at(5, std::move(theirs), "five");
    std::error_code ec;
    auto c = tether::spawn(std::move(opt), ec);
    EXPECT_EQ(ec, tether::errc::not_supported);
    EXPECT_TRUE(opt.handles.at(0).h);
}

TEST(WindowsSpawn, SocketActivationIsNotSupportedByName) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    opt.pass_listen_fd(std::move(theirs), "http");
    std::error_code ec;
    std::string message;
    auto c = tether::spawn(std::move(opt), ec, message);
    EXPECT_EQ(ec, tether::errc::not_supported);
    EXPECT_NE(message.find("LISTEN_FDS"), std::string::npos) << message;
    EXPECT_TRUE(opt.handles.at(0).h);
}

TEST(WindowsSpawn, WorkingDirectoryIsApplied) {
    auto opt = tether_test::role_options("print_cwd");
    opt.cwd = temp_dir();
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto text = tether::take_stdout_text(c);
    EXPECT_TRUE(c.wait().success());
    auto strip = [](std::string s) {
        while (!s.empty() && (s.back() == '\\' || s.back() == '\n' || s.back() == '\r')) s.pop_back();
        return s;
    };
    EXPECT_EQ(strip(text), strip(temp_dir()));
}

TETHER_CHILD_ROLE(print_cwd) {
    wchar_t buf[MAX_PATH];
    DWORD n = ::GetCurrentDirectoryW(MAX_PATH, buf);
    std::printf("%s\n", tether::detail::narrow(std::wstring(buf, n)).c_str());
    return 0;
}

TETHER_CHILD_ROLE(block_on_stdin) {
    std::byte buf[1];
    (void)tether::read(tether::borrowed_handle(::GetStdHandle(STD_INPUT_HANDLE)), buf);
    return 3;
}

TEST(WindowsChild, WaitForTryWaitKillAndExitCode) {
    auto opt = tether_test::role_options("block_on_stdin");
    opt.in = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    EXPECT_GT(c.pid(), 0);
    EXPECT_TRUE(c.process_handle());
    EXPECT_FALSE(c.try_wait());
    EXPECT_FALSE(c.wait_for(100ms));
    EXPECT_FALSE(c.status());
    try {
        c.signal(15);
        ADD_FAILURE() << "signal() did not throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::not_supported);
    }
    c.terminate();
    auto st = c.wait();
    EXPECT_EQ(st, (tether::exit_status{tether::exit_status::kind::exited, 1, false}));
    EXPECT_EQ(c.try_wait(), st);
    EXPECT_EQ(c.wait_for(0ms), st);
    c.kill();  // after the end: no effect, no error
}

TEST(WindowsChild, ReleasedChildExitsWithItsCode) {
    auto opt = tether_test::role_options("block_on_stdin");
    opt.in = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto in = c.take_stdin();
    in.reset();  // end-of-file for the child
    auto st = c.wait_for(20s);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->code, 3);
}

TEST(WindowsChild, KillOnDestroyEndsTheChild) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("write_then_block");
    opt.pass(std::move(theirs), "out");
    opt.in = tether::stdio::pipe();
    opt.kill_on_destroy = true;
    {
        auto c = tether::spawn(std::move(opt));
        std::byte buf[6];
        ASSERT_EQ(tether::read(ours, buf), 6u);
    }
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(ours, 20s, ec), "");
    EXPECT_FALSE(ec) << "the child still runs after ~child with kill_on_destroy";
}

TEST(WindowsChild, DestructorWithoutKillLetsTheChildRun) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("write_then_block");
    opt.pass(std::move(theirs), "out");
    opt.in = tether::stdio::pipe();
    tether::unique_handle release;
    {
        auto c = tether::spawn(std::move(opt));
        release = c.take_stdin();
    }
    std::error_code ec;
    std::byte buf[6];
    EXPECT_EQ(tether::read_for(ours, buf, 20s, ec), 6u) << ec.message();
    EXPECT_EQ(tether::read_for(ours, buf, 200ms, ec), 0u);
    EXPECT_EQ(ec, tether::errc::timed_out) << "the child should still be running";
    release.reset();
    EXPECT_EQ(tether::read_to_end_for(ours, 20s, ec), "");
    EXPECT_FALSE(ec) << ec.message();
}

TEST(WindowsSpawn, BatchFileWithSafeArgumentsRunsUnderCmd) {
    std::string bat = temp_dir() + "tether-echo-" + std::to_string(::GetCurrentProcessId()) + ".bat";
    {
        std::ofstream f(bat);
        f << "@echo off\r\necho [%~1] [%~2] [%~3]\r\n";
    }
    tether::spawn_options opt;
    opt.argv = {bat, "one", "two words", "a,b"};
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto text = tether::take_stdout_text(c);
    EXPECT_TRUE(c.wait().success());
    std::erase(text, '\r');
    EXPECT_EQ(text, "[one] [two words] [a,b]\n");

    tether::spawn_options bad;
    bad.argv = {bat, "ok", "\"&calc.exe"};
    expect_spawn_failure(std::move(bad), tether::errc::unsafe_argument, "'\"&calc.exe'");
    tether::spawn_options pct;
    pct.argv = {bat, "%PATH%"};
    expect_spawn_failure(std::move(pct), tether::errc::unsafe_argument, "'%PATH%'");
    ::DeleteFileW(tether::detail::widen(bat).c_str());
}

TEST(WindowsSpawn, PathSearchAddsExeAndHonoursTheChildsPath) {
    tether::spawn_options opt;
    opt.argv = {"cmd", "/c", "exit 4"};  // found in System32 as cmd.exe
    EXPECT_EQ(tether::spawn(std::move(opt)).wait().code, 4);
    // A PATH set for the child is searched first: our own directory through it.
    auto self = tether::current_executable_path();
    auto dir = self.substr(0, self.find_last_of('\\'));
    auto name = self.substr(self.find_last_of('\\') + 1);
    tether::spawn_options mine;
    mine.argv = {name.substr(0, name.size() - 4), "--role", "exit_with", "6"};  // without ".exe"
    mine.env_set["Path"] = dir;
    EXPECT_EQ(tether::spawn(std::move(mine)).wait().code, 6);
}

TETHER_CHILD_ROLE(win_print_env) {
    for (const auto& name : args) {
        auto v = tether::detail::get_environment_variable(name);
        std::printf("%s=%s\n", name.c_str(), v ? v->c_str() : "<unset>");
    }
    return 0;
}

TEST(WindowsSpawn, EnvironmentNamesFoldCase) {
    ::SetEnvironmentVariableW(L"TETHER_TEST_VAR", L"parent");
    auto opt = tether_test::role_options("win_print_env", {"TETHER_TEST_VAR", "TETHER_OTHER"});
    opt.env_set["tether_test_var"] = "child";  // the same variable on Windows
    opt.env_set["TETHER_OTHER"] = "x";
    opt.env_unset = {"tether_other"};
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto text = tether::take_stdout_text(c);
    std::erase(text, '\r');
    EXPECT_EQ(text, "TETHER_TEST_VAR=child\nTETHER_OTHER=<unset>\n");
    EXPECT_TRUE(c.wait().success());
    ::SetEnvironmentVariableW(L"TETHER_TEST_VAR", nullptr);
}

TEST(WindowsErrorCodes, OverloadsFillTheCode) {
    std::error_code ec;
    std::byte buf[4];
    tether::borrowed_handle bogus(reinterpret_cast<tether::native_handle>(static_cast<std::intptr_t>(0x7ff0)));
    EXPECT_EQ(tether::read(bogus, buf, ec), 0u);
    EXPECT_EQ(ec, tether::detail::win_error(ERROR_INVALID_HANDLE));
    ec.clear();
    EXPECT_EQ(tether::write_all(bogus, std::as_bytes(std::span("x", 1)), ec), 0u);
    EXPECT_EQ(ec, tether::detail::win_error(ERROR_INVALID_HANDLE));
    ec.clear();
    tether::unique_handle none;
    // INVALID_HANDLE_VALUE is also GetCurrentProcess()'s pseudo-handle: it must not duplicate.
    EXPECT_FALSE(none.duplicate(ec));
    EXPECT_EQ(ec, tether::detail::win_error(ERROR_INVALID_HANDLE));
    ec.clear();
    (void)tether::inherited("anything", ec);
    EXPECT_EQ(ec, tether::errc::no_manifest);
    EXPECT_THROW((void)tether::is_inheritable(bogus), std::system_error);
}

TEST(WindowsSpawn, AStaleInheritedStdHandleDoesNotStopTheSpawn) {
    // Our stderr slot names nothing (as in a service whose console went away): the child starts
    // without that stream instead of spawn() failing on a handle the caller never asked for.
    HANDLE saved = ::GetStdHandle(STD_ERROR_HANDLE);
    ASSERT_TRUE(::SetStdHandle(STD_ERROR_HANDLE, reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(0x7ff4))));
    std::error_code ec;
    auto c = tether::spawn(tether_test::role_options("exit_with", {"5"}), ec);
    ::SetStdHandle(STD_ERROR_HANDLE, saved);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(c.wait().code, 5);
}
