// Shared behaviour (both platforms, public API only): spawn options, stdio, named handles and
// the manifest, handle_arg placeholders, validation errors and ownership, the child object.
#include "support/harness.hpp"
#include "detail/backend.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

using namespace std::chrono_literals;

using tether_test::contains;
using tether_test::is_open;
using tether_test::output_of;

namespace {

}  // namespace

// ---- roles

TETHER_CHILD_ROLE(print_env) {
    for (const auto& name : args) {
        const char* v = std::getenv(name.c_str());
        std::cout << name << (v != nullptr ? "=" + std::string(v) : std::string(" unset")) << "\n";
    }
    return 0;
}

TETHER_CHILD_ROLE(echo_stdin) {
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::cout << "got:" << all;
    return 0;
}

TETHER_CHILD_ROLE(out_and_err) {
    std::cout << "to-out\n" << std::flush;
    std::cerr << "to-err\n" << std::flush;
    return 0;
}

// Blocks until its stdin reaches end-of-file: a long-lived child without a sleep.
TETHER_CHILD_ROLE(wait_stdin_eof) {
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return 0;
}

// Takes each named handle and writes its own name into it; prints errors.
TETHER_CHILD_ROLE(write_names) {
    for (const auto& name : args) {
        try {
            auto h = tether::inherited(name);
            tether::write_all(h, name);
        } catch (const std::system_error& e) {
            std::cout << "error: " << e.what() << "\n";
            return 3;
        }
    }
    return 0;
}

// inherited(name, ec) clears a stale code on success and fills it for a second take.
TETHER_CHILD_ROLE(inherited_ec) {
    std::error_code ec = tether::errc::closed;
    auto h = tether::inherited(args.at(0), ec);
    if (ec || !h) return 10;
    auto again = tether::inherited(args.at(0), ec);
    if (ec != tether::errc::unknown_handle_name || again) return 11;
    try {
        (void)tether::inherited(args.at(0));
        return 12;
    } catch (const std::system_error& e) {
        if (std::string(e.what()).find("already taken") == std::string::npos) return 13;
    }
    return 0;
}

TETHER_CHILD_ROLE(manifest_gone_after_read) {
    // Once read, the manifest is no longer in our environment (our own children never see it),
    // and what was read is still known.
    auto h = tether::inherited("data");
    if (tether::detail::get_environment_variable(tether::manifest_variable)) return 10;
    if (tether::detail::get_environment_variable(tether::manifest_parent_variable)) return 11;
    if (tether::inherited_names() != std::vector<std::string>{"data"}) return 12;
    std::error_code ec;
    (void)tether::inherited("data", ec);
    if (ec != tether::errc::unknown_handle_name) return 13;
    return 0;
}

TEST(Spawn, TheManifestLeavesTheEnvironmentOnceRead) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("manifest_gone_after_read");
    opt.pass(std::move(theirs), "data");
    EXPECT_EQ(tether::spawn(std::move(opt)).wait().code, 0);
}

TETHER_CHILD_ROLE(print_inherited_names) {
    for (const auto& n : tether::inherited_names()) std::cout << n << "\n";
    std::error_code ec;
    auto h = tether::inherited(args.empty() ? "x" : args[0], ec);
    std::cout << "ec=" << ec.message() << "\n";
    return 0;
}

// .NET style: argv[0] after the role is a handle string; open it as a client and write.
TETHER_CHILD_ROLE(dotnet_client) {
    tether::pipe_client client(tether::direction::out, args.at(0));
    client.write(std::string_view("from " + args.at(0)));
    return 0;
}

// ---- options and stdio

TEST(Spawn, ExitCodesPassThrough) {
    for (int code : {0, 1, 42, 255}) {
        auto c = tether::spawn(tether_test::role_options("exit_with", {std::to_string(code)}));
        EXPECT_TRUE(c);
        EXPECT_GT(c.pid(), 0);
        auto st = c.wait();
        EXPECT_TRUE(st.exited());
        EXPECT_EQ(st.code, code);
        EXPECT_EQ(st.success(), code == 0);
    }
}

TEST(Spawn, ArgvIsVerbatimWithNoShell) {
    std::vector<std::string> args = {"$HOME", "*", "a;b", "`id`", "a'b", "x\"y", "  spaced  ", "|", ">f", "%PATH%"};
    std::string expected;
    for (const auto& a : args) expected += a + "\n";
    auto text = output_of(tether_test::role_options("echo_args", args));
    EXPECT_EQ(text, expected);
}

TEST(Spawn, EnvironmentSetOverridesAndUnsetRemoves) {
    auto opt = tether_test::role_options("print_env", {"TETHER_T_SET", "PATH", "TETHER_T_GONE"});
    opt.env_set["TETHER_T_SET"] = "value with spaces=and equals";
    opt.env_set["TETHER_T_GONE"] = "set then unset";
    opt.env_unset.push_back("TETHER_T_GONE");
    auto text = output_of(std::move(opt));
    EXPECT_TRUE(contains(text, "TETHER_T_SET=value with spaces=and equals\n")) << text;
    EXPECT_TRUE(contains(text, "TETHER_T_GONE unset\n")) << text;
    const char* path = std::getenv("PATH");
    ASSERT_NE(path, nullptr);
    EXPECT_TRUE(contains(text, "PATH=" + std::string(path) + "\n")) << "inherited: " << text;
}

TEST(Spawn, EnvironmentUnsetOfAnInheritedVariable) {
    auto opt = tether_test::role_options("print_env", {"PATH"});
    opt.env_unset.push_back("PATH");
    // The program is an absolute path, so no PATH search is needed.
    auto text = output_of(std::move(opt));
    EXPECT_EQ(text, "PATH unset\n");
}

TEST(Spawn, StdinAndStdoutPipes) {
    auto opt = tether_test::role_options("echo_stdin");
    opt.in = tether::stdio::pipe();
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto in = c.take_stdin();
    ASSERT_TRUE(in);
    EXPECT_FALSE(tether::is_inheritable(in));
    tether::write_all(in, std::string_view("ping"));
    in.reset();  // end-of-file for the child
    auto out = c.take_stdout();
    ASSERT_TRUE(out);
    EXPECT_FALSE(tether::is_inheritable(out));
    EXPECT_EQ(tether::read_to_end(out), "got:ping");
    EXPECT_TRUE(c.wait().success());
    EXPECT_FALSE(c.take_stdin()) << "taken once";
}

TEST(Spawn, StdinNullGivesImmediateEndOfFile) {
    auto opt = tether_test::role_options("echo_stdin");
    opt.in = tether::stdio::null();
    EXPECT_EQ(output_of(std::move(opt)), "got:");
}

TEST(Spawn, StdoutNullAndStderrPipe) {
    auto opt = tether_test::role_options("out_and_err");
    opt.out = tether::stdio::null();
    opt.err = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    EXPECT_FALSE(c.take_stdout());
    EXPECT_EQ(tether::read_to_end(c.take_stderr()), "to-err\n");
    EXPECT_TRUE(c.wait().success());
}

TEST(Spawn, StderrIntoStdout) {
    auto opt = tether_test::role_options("out_and_err");
    opt.err = tether::stdio::to_stdout();
    EXPECT_EQ(output_of(std::move(opt)), "to-out\nto-err\n");
}

TEST(Spawn, StdoutToAGivenHandleIsConsumed) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("echo_args", {"into handle"});
    opt.out = tether::stdio::from(std::move(theirs));
    auto c = tether::spawn(std::move(opt));
    // The parent's copy went with the spawn, so end-of-file comes when the child exits.
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(ours, 20s, ec), "into handle\n");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(c.wait().success());
}

// ---- named handles, manifest, placeholders

TEST(Spawn, NamedHandlesInOrderAndTheManifestListsThem) {
    auto a = tether::make_pipe(tether::direction::in);
    auto b = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("write_names", {"alpha", "beta"});
    opt.pass(std::move(a.theirs), "alpha").pass(std::move(b.theirs), "beta");
    auto c = tether::spawn(std::move(opt));
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(a.ours, 20s, ec), "alpha");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(tether::read_to_end_for(b.ours, 20s, ec), "beta");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(c.wait().success());
}

TEST(Spawn, InheritedNamesAndAClearErrorForAMissingName) {
    auto a = tether::make_pipe(tether::direction::in);
    auto b = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("write_names", {"nope"});
    opt.pass(std::move(a.theirs), "first").pass(std::move(b.theirs), "second");
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto text = tether::take_stdout_text(c);
    auto st = c.wait();
    EXPECT_EQ(st.code, 3);
    EXPECT_TRUE(contains(text, "'nope'")) << text;
    EXPECT_TRUE(contains(text, "first, second")) << text;
}

TEST(Spawn, InheritedNamesListsThePassedNames) {
    auto a = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("print_inherited_names", {"other"});
    opt.pass(std::move(a.theirs), "only");
    auto text = output_of(std::move(opt));
    EXPECT_TRUE(contains(text, "only\n")) << text;
    EXPECT_TRUE(contains(text, "ec=" + tether::make_error_code(tether::errc::unknown_handle_name).message()))
        << text;
}

TEST(Spawn, InheritedErrorCodeOverloadClearsAndFills) {
    auto a = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("inherited_ec", {"once"});
    opt.pass(std::move(a.theirs), "once");
    auto c = tether::spawn(std::move(opt));
    EXPECT_EQ(c.wait().code, 0) << "10: not cleared; 11: second take not refused; 13: unclear message";
}

TEST(Spawn, AProcessWithoutAManifestHasNoHandles) {
    auto text = output_of(tether_test::role_options("print_inherited_names", {"x"}));
    EXPECT_EQ(text, "ec=" + tether::make_error_code(tether::errc::no_manifest).message() + "\n");
}

TEST(Spawn, AManifestForAnotherParentIsIgnored) {
    // What a grandchild sees if a manifest leaks through: the parent id is not its parent's.
    auto opt = tether_test::role_options("print_inherited_names", {"log"});
    opt.env_set[tether::manifest_variable] = "log:3";
    opt.env_set[tether::manifest_parent_variable] = "1";
    auto text = output_of(std::move(opt));
    EXPECT_EQ(text, "ec=" + tether::make_error_code(tether::errc::no_manifest).message() + "\n");
}

TEST(Spawn, HandleArgPlaceholderBecomesTheChildValue) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("dotnet_client", {tether::handle_arg(theirs)});
    opt.pass(std::move(theirs));
    auto c = tether::spawn(std::move(opt));
    std::error_code ec;
    auto text = tether::read_to_end_for(ours, 20s, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(text.rfind("from ", 0), 0u) << text;
    EXPECT_TRUE(c.wait().success());
}

// ---- validation errors: clear message, errc::invalid_argument, handles kept

namespace {

std::string spawn_error(tether::spawn_options& opt, std::error_code expected = tether::errc::invalid_argument) {
    try {
        (void)tether::spawn(std::move(opt));
        ADD_FAILURE() << "spawn succeeded";
        return {};
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), expected) << e.what();
        return e.what();
    }
}

}  // namespace

TEST(SpawnValidation, EmptyArgv) {
    tether::spawn_options opt;
    EXPECT_TRUE(contains(spawn_error(opt), "argv is empty"));
    opt.argv = {""};
    EXPECT_TRUE(contains(spawn_error(opt), "argv is empty"));
}

TEST(SpawnValidation, BadNames) {
    for (const std::string& bad : std::vector<std::string>{"a b", "a,b", "a:b", "a=b", "caf\xc3\xa9", std::string(65, 'n')}) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("exit_with", {"0"});
        opt.pass(std::move(theirs), bad);
        auto what = spawn_error(opt);
        EXPECT_TRUE(contains(what, bad)) << what;
        ASSERT_EQ(opt.handles.size(), 1u);
        EXPECT_TRUE(opt.handles[0].h) << "the options still own the handle";
    }
}

TEST(SpawnValidation, DuplicateNames) {
    auto a = tether::make_pipe(tether::direction::in);
    auto b = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.pass(std::move(a.theirs), "same").pass(std::move(b.theirs), "same");
    auto what = spawn_error(opt);
    EXPECT_TRUE(contains(what, "'same'") && contains(what, "twice")) << what;
}

TEST(SpawnValidation, DuplicateHandles) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("exit_with", {"0"});
    auto value = theirs.get();
    opt.pass(std::move(theirs), "one");
    opt.pass(tether::unique_handle(value), "two");  // the same handle a second time
    auto what = spawn_error(opt);
    EXPECT_TRUE(contains(what, "same handle")) << what;
    (void)opt.handles[1].h.release();  // not a real owner; avoid a double close
}

TEST(SpawnValidation, InvalidHandle) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.pass(tether::unique_handle{}, "none");
    EXPECT_TRUE(contains(spawn_error(opt), "not an open handle"));
    auto opt2 = tether_test::role_options("exit_with", {"0"});
    opt2.out = tether::stdio::from(tether::unique_handle{});
    EXPECT_TRUE(contains(spawn_error(opt2), "stdout"));
}

TEST(SpawnValidation, ToStdoutOnlyForStderr) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.out = tether::stdio::to_stdout();
    EXPECT_TRUE(contains(spawn_error(opt), "only stderr"));
}

TEST(SpawnValidation, BadEnvironmentName) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.env_set["A=B"] = "x";
    EXPECT_TRUE(contains(spawn_error(opt), "'A=B'"));
    auto opt2 = tether_test::role_options("exit_with", {"0"});
    opt2.env_set[""] = "x";
    EXPECT_TRUE(contains(spawn_error(opt2), "environment"));
}

TEST(SpawnValidation, NulInAnArgument) {
    auto opt = tether_test::role_options("exit_with", {std::string("a\0b", 3)});
    EXPECT_TRUE(contains(spawn_error(opt), "NUL"));
}

TEST(SpawnValidation, PlaceholderForAHandleNotPassed) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("echo_args", {"--fd=" + tether::handle_arg(ours)});
    opt.pass(std::move(theirs));
    auto what = spawn_error(opt);
    EXPECT_TRUE(contains(what, "not passed")) << what;
    auto opt2 = tether_test::role_options("echo_args", {"{tether-handle:junk}"});
    what = spawn_error(opt2);
    EXPECT_TRUE(contains(what, "junk")) << what;
}

TEST(SpawnValidation, FailureKeepsEveryHandleAndTheOptionsCanBeReused) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto [sin_ours, sin_theirs] = tether::make_pipe(tether::direction::out);
    auto opt = tether_test::role_options("write_names", {"log"});
    opt.pass(std::move(theirs), "log");
    opt.in = tether::stdio::from(std::move(sin_theirs));
    opt.env_set["BAD=NAME"] = "x";
    auto passed = opt.handles[0].h.get();
    auto in_value = opt.in.h.get();
    std::error_code ec;
    auto failed = tether::spawn(std::move(opt), ec);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
    EXPECT_FALSE(failed);
    EXPECT_EQ(opt.handles[0].h.get(), passed);  // NOLINT(bugprone-use-after-move): the contract
    EXPECT_TRUE(is_open(passed));
    EXPECT_EQ(opt.in.h.get(), in_value);
    EXPECT_TRUE(is_open(in_value));
    opt.env_set.clear();
    ec = tether::errc::closed;
    auto c = tether::spawn(std::move(opt), ec);
    EXPECT_FALSE(ec) << "success clears the code: " << ec.message();
    ASSERT_TRUE(c);
    EXPECT_FALSE(opt.handles[0].h) << "consumed by the successful spawn";
    EXPECT_FALSE(opt.in.h);
    EXPECT_EQ(tether::read_to_end_for(ours, 20s, ec), "log");
    EXPECT_TRUE(c.wait().success());
}

// ---- the child object

TEST(Child, EmptyChild) {
    tether::child c;
    EXPECT_FALSE(c);
    EXPECT_EQ(c.pid(), -1);
    EXPECT_FALSE(c.try_wait());
    EXPECT_FALSE(c.wait_for(1ms));
    EXPECT_FALSE(c.status());
    EXPECT_THROW((void)c.wait(), std::system_error);
    c.kill();  // no effect
    c.detach();
}

TEST(Child, RunningChildTryWaitWaitForThenKill) {
    auto opt = tether_test::role_options("wait_stdin_eof");
    opt.in = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    EXPECT_FALSE(c.try_wait());
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(c.wait_for(50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
    EXPECT_FALSE(c.status());
    c.kill();
    auto st = c.wait_for(20s);
    ASSERT_TRUE(st);
    EXPECT_FALSE(st->success());
    EXPECT_EQ(c.wait(), *st) << "wait is idempotent";
    EXPECT_EQ(c.try_wait(), st);
    EXPECT_EQ(c.status(), st);
    c.kill();  // after reaping: no effect, no error
    c.terminate();
}

TEST(Child, WaitForReturnsTheStatusOfAChildThatEnds) {
    auto opt = tether_test::role_options("wait_stdin_eof");
    opt.in = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    c.take_stdin().reset();  // the child's stdin reaches end-of-file; it exits 0
    auto st = c.wait_for(tether::milliseconds::max());
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->success());
}

TEST(Child, MoveKeepsTheProcess) {
    auto c = tether::spawn(tether_test::role_options("exit_with", {"5"}));
    auto pid = c.pid();
    tether::child moved(std::move(c));
    EXPECT_FALSE(c);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(moved.pid(), pid);
    tether::child assigned;
    assigned = std::move(moved);
    EXPECT_EQ(assigned.pid(), pid);
    EXPECT_EQ(assigned.wait().code, 5);
}

TEST(Child, EndOfFileAfterTheChildExitsOrIsKilled) {
    for (bool kill : {false, true}) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("wait_stdin_eof");
        opt.in = tether::stdio::pipe();
        opt.pass(std::move(theirs), "held");  // the child holds it without using it
        auto c = tether::spawn(std::move(opt));
        std::byte b[1];
        std::error_code ec;
        EXPECT_EQ(tether::read_for(ours, b, 20ms, ec), 0u);
        EXPECT_EQ(ec, tether::errc::timed_out) << "no end-of-file while the child holds the end";
        if (kill)
            c.kill();
        else
            c.take_stdin().reset();
        EXPECT_EQ(tether::read_for(ours, b, 20s, ec), 0u);
        EXPECT_FALSE(ec) << "end-of-file, not " << ec.message();
        EXPECT_EQ(c.wait().success(), !kill);
    }
}

// Supervision code reads a crash the same way on both platforms: a signal on POSIX, the
// unhandled exception's NTSTATUS as the exit code on Windows.
TEST(ExitStatus, CrashesAreNamedPortably) {
    tether::exit_status av{tether::exit_status::kind::exited, static_cast<int>(0xC0000005u), false};
    EXPECT_TRUE(av.crashed());
    EXPECT_EQ(av.describe(), "crashed: access violation (0xC0000005)");
    tether::exit_status so{tether::exit_status::kind::exited, static_cast<int>(0xC00000FDu), false};
    EXPECT_EQ(so.describe(), "crashed: stack overflow (0xC00000FD)");
    tether::exit_status unknown{tether::exit_status::kind::exited, static_cast<int>(0xC0001234u), false};
    EXPECT_EQ(unknown.describe(), "crashed: unhandled exception (0xC0001234)");
    tether::exit_status segv{tether::exit_status::kind::signalled, 11, false};
    EXPECT_TRUE(segv.crashed());
    tether::exit_status plain{tether::exit_status::kind::exited, 3, false};
    EXPECT_FALSE(plain.crashed());
    EXPECT_EQ(plain.describe(), "exited with code 3");
    tether::exit_status killed_on_windows{tether::exit_status::kind::exited, 1, false};
    EXPECT_FALSE(killed_on_windows.crashed()) << "TerminateProcess(1) is an ordinary exit code";
}

TEST(ExitStatus, DescribeExited) {
    tether::exit_status s;
    s.code = 3;
    EXPECT_EQ(s.describe(), "exited with code 3");
    EXPECT_FALSE(s.success());
    EXPECT_TRUE(tether::exit_status{}.success());
}
