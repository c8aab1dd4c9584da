// Linux: spawn details that need POSIX to observe — PATH search, a replaced environment, the
// working directory, stdio identities, pass_at numbering with colliding sources, descriptor
// ownership, exec failures without zombies, signals and exit statuses, the destructor policy,
// the grandchild rule of the manifest.
#include "support/harness.hpp"
#include "detail/manifest.hpp"
#include "detail/backend.hpp"
#include "testing/test_hooks.hpp"
#include "support/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <pthread.h>
#include <cstring>
#include <iostream>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char** environ;  // NOLINT: POSIX names it so

using namespace std::chrono_literals;

using tether_test::contains;
using tether_test::is_open;
using tether_test::output_of;

namespace {

// Moves a handle to a descriptor number >= `at`, so that numbers the library frees cannot be
// reused by anything it opens next (a pidfd) before the test looks at them.
tether::unique_handle moved_high(tether::unique_handle h, int at = 500) {
    tether::unique_handle high(::fcntl(h.get(), F_DUPFD_CLOEXEC, at));
    return high;
}

}  // namespace

// ---- roles

TETHER_CHILD_ROLE(print_environ) {
    for (char** e = environ; *e != nullptr; ++e) std::cout << *e << "\n";
    return 0;
}

TETHER_CHILD_ROLE(print_cwd) {
    char buf[4096];
    if (::getcwd(buf, sizeof buf) == nullptr) return 2;
    std::cout << buf;
    return 0;
}

// Writes "dev:ino" of fds 0, 1, 2 into the handle named "report".
TETHER_CHILD_ROLE(stdio_identity) {
    auto report = tether::inherited("report");
    std::string s;
    for (int fd = 0; fd < 3; ++fd) s += tether_test::identity(fd) + "\n";
    tether::write_all(report, s);
    return 0;
}

// args: name=fd ... : checks each named handle sits at that number, writes the name into it.
TETHER_CHILD_ROLE(check_numbers) {
    for (const auto& a : args) {
        auto eq = a.find('=');
        auto name = a.substr(0, eq);
        int expected = std::stoi(a.substr(eq + 1));
        auto h = tether::inherited(name);
        if (h.get() != expected) {
            std::cerr << name << " is at " << h.get() << ", expected " << expected << "\n";
            return 4;
        }
        tether::write_all(h, name);
    }
    return 0;
}

TETHER_CHILD_ROLE(crash_segv) {
    rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);  // no core file from the test suite
    std::signal(SIGSEGV, SIG_DFL);    // a sanitizer's handler would turn the crash into exit(1)
    std::raise(SIGSEGV);
    return 0;
}

// A child that was given handles spawns a grandchild that sees the same manifest text.
TETHER_CHILD_ROLE(spawn_grandchild) {
    auto opt = tether_test::role_options("print_inherited_names", {"log"});
    opt.env_set[tether::manifest_variable] = std::getenv(tether::manifest_variable);
    opt.env_set[tether::manifest_parent_variable] = std::getenv(tether::manifest_parent_variable);
    opt.out = tether::stdio::inherit();
    auto c = tether::spawn(std::move(opt));
    return c.wait().success() ? 0 : 1;
}

// ---- PATH search, environment, working directory

TEST(PosixSpawn, PathSearchWithOurPath) {
    tether::spawn_options opt;
    opt.argv = {"true"};
    auto c = tether::spawn(std::move(opt));
    EXPECT_TRUE(c.wait().success());
}

TEST(PosixSpawn, PathSearchUsesTheChildsPathFromEnvSet) {
    tether_test::temp_dir dir;
    auto decoy = dir.subdir("first");
    tether_test::temp_dir d2;
    // A same-named file that is not executable comes first in PATH and is skipped, as execvp does.
    d2.file("tether-probe", "not a program", 0644);
    dir.symlink("tether-probe", tether::current_executable_path());
    tether::spawn_options opt;
    opt.argv = {"tether-probe", "--role", "echo_args", "found"};
    opt.env_set["PATH"] = d2.path() + ":" + decoy + ":" + dir.path();
    EXPECT_EQ(output_of(std::move(opt)), "found\n");
}

TEST(PosixSpawn, ProgramNotInPathNamesTheSearch) {
    tether::spawn_options opt;
    opt.argv = {"tether-no-such-program"};
    opt.env_set["PATH"] = "/nonexistent-a:/nonexistent-b";
    try {
        (void)tether::spawn(std::move(opt));
        FAIL() << "spawned";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::error_code(ENOENT, std::system_category()));
        EXPECT_TRUE(contains(e.what(), "tether-no-such-program")) << e.what();
        EXPECT_TRUE(contains(e.what(), "/nonexistent-a:/nonexistent-b")) << e.what();
    }
}

TEST(PosixSpawn, ReplacedEnvironmentHoldsOnlyWhatWasSet) {
    auto opt = tether_test::role_options("print_environ");
    opt.inherit_environment = false;
    opt.env_set["ONLY"] = "this";
    EXPECT_EQ(output_of(std::move(opt)), "ONLY=this\n");
}

TEST(PosixSpawn, ReplacedEnvironmentStillCarriesTheManifest) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("print_environ");
    opt.inherit_environment = false;
    opt.pass(std::move(theirs), "h");
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto text = tether::take_stdout_text(c);
    EXPECT_TRUE(c.wait().success());
    // Both ends of a pipe are one inode, so our end's identity is the one the manifest records;
    // the child wrote its own id into the last entry before exec.
    EXPECT_EQ(text, std::string(tether::manifest_variable) + "=h:3@" + tether::detail::handle_identity(ours.get()) +
                        "\n" + tether::manifest_parent_variable + "=" + std::to_string(::getpid()) + "\n" +
                        tether::detail::manifest_child_variable + "=" + std::to_string(c.pid()) + "\n");
}

TEST(PosixSpawn, InheritedVariablesFromOurEnvironment) {
    ASSERT_EQ(::setenv("TETHER_T_INHERIT", "from parent", 1), 0);
    auto text = output_of(tether_test::role_options("print_env", {"TETHER_T_INHERIT"}));
    ::unsetenv("TETHER_T_INHERIT");
    EXPECT_EQ(text, "TETHER_T_INHERIT=from parent\n");
}

TEST(PosixSpawn, AStaleManifestInOurEnvironmentIsNotPassedOn) {
    ASSERT_EQ(::setenv(tether::manifest_variable, "old:3", 1), 0);
    ASSERT_EQ(::setenv(tether::manifest_parent_variable, "1", 1), 0);
    auto text = output_of(
        tether_test::role_options("print_env", {tether::manifest_variable, tether::manifest_parent_variable}));
    ::unsetenv(tether::manifest_variable);
    ::unsetenv(tether::manifest_parent_variable);
    EXPECT_EQ(text, std::string(tether::manifest_variable) + " unset\n" + tether::manifest_parent_variable +
                        " unset\n");
}

TEST(PosixSpawn, WorkingDirectory) {
    tether_test::temp_dir dir;
    char real[PATH_MAX];
    ASSERT_NE(::realpath(dir.path().c_str(), real), nullptr);
    auto opt = tether_test::role_options("print_cwd");
    opt.cwd = dir.path();
    EXPECT_EQ(output_of(std::move(opt)), real);
}

TEST(PosixSpawn, WorkingDirectoryWithAPassedHandleAtItsNumber) {
    // The directory is opened in the parent; its descriptor must not be overwritten by a
    // passed handle placed at the same number in the child before the chdir happens.
    tether_test::temp_dir dir;
    char real[PATH_MAX];
    ASSERT_NE(::realpath(dir.path().c_str(), real), nullptr);
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto high = moved_high(std::move(theirs));
    int next_free = ::fcntl(0, F_DUPFD_CLOEXEC, 3);  // the number the directory will get
    ::close(next_free);
    auto opt = tether_test::role_options("print_cwd");
    opt.cwd = dir.path();
    opt.pass_at(next_free, std::move(high), "x");
    EXPECT_EQ(output_of(std::move(opt)), real);
}

TEST(PosixSpawn, RelativeProgramIsResolvedInTheWorkingDirectory) {
    tether_test::temp_dir dir;
    dir.symlink("probe", tether::current_executable_path());
    tether::spawn_options opt;
    opt.argv = {"./probe", "--role", "echo_args", "relative"};
    opt.cwd = dir.path();
    EXPECT_EQ(output_of(std::move(opt)), "relative\n");
}

// ---- stdio identities

TEST(PosixSpawn, StdioInheritNullAndToStdoutAreTheRightObjects) {
    tether::unique_handle null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    auto null_id = tether_test::identity(null.get());
    struct expectation {
        tether::stdio in, out, err;
        std::string id0, id1, id2;
    };
    std::vector<expectation> cases;
    cases.push_back({tether::stdio::inherit(), tether::stdio::inherit(), tether::stdio::inherit(),
                     tether_test::identity(0), tether_test::identity(1), tether_test::identity(2)});
    cases.push_back({tether::stdio::null(), tether::stdio::null(), tether::stdio::null(), null_id, null_id, null_id});
    cases.push_back({tether::stdio::null(), tether::stdio::inherit(), tether::stdio::to_stdout(), null_id,
                     tether_test::identity(1), tether_test::identity(1)});
    for (auto& c : cases) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("stdio_identity");
        opt.in = std::move(c.in);
        opt.out = std::move(c.out);
        opt.err = std::move(c.err);
        opt.pass(std::move(theirs), "report");
        auto ch = tether::spawn(std::move(opt));
        EXPECT_EQ(tether::read_to_end(ours), c.id0 + "\n" + c.id1 + "\n" + c.id2 + "\n");
        EXPECT_TRUE(ch.wait().success());
    }
}

// ---- numbering

TEST(PosixSpawn, PassAtWithGapsAndNextFree) {
    auto a = tether::make_pipe(tether::direction::in);
    auto b = tether::make_pipe(tether::direction::in);
    auto c = tether::make_pipe(tether::direction::in);
    auto d = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("check_numbers", {"a=3", "b=7", "c=5", "d=4"});
    opt.pass(std::move(a.theirs), "a");           // 3: the first free
    opt.pass_at(7, std::move(b.theirs), "b");     // 7: chosen
    opt.pass_at(5, std::move(c.theirs), "c");     // 5: chosen
    opt.pass(std::move(d.theirs), "d");           // 4: next free, 5 is taken
    auto ch = tether::spawn(std::move(opt));
    EXPECT_EQ(tether::read_to_end(a.ours), "a");
    EXPECT_EQ(tether::read_to_end(b.ours), "b");
    EXPECT_EQ(tether::read_to_end(c.ours), "c");
    EXPECT_EQ(tether::read_to_end(d.ours), "d");
    EXPECT_TRUE(ch.wait().success());
}

namespace {

// A pipe whose ends both live at high numbers, so that 3 and 4 stay free for the test.
tether::pipe_pair high_pipe(int at) {
    auto p = tether::make_pipe(tether::direction::in);
    return {moved_high(std::move(p.ours), at), moved_high(std::move(p.theirs), at + 1)};
}

// Puts `h` at exactly descriptor `fd`, close-on-exec. Whatever held `fd` before (the test
// runner may leak descriptors 3 and 4 into us) is parked high and put back by the destructor.
class placed_at {
public:
    placed_at(tether::unique_handle h, int fd) : fd_(fd) {
        if (!tether_test::fd_closed(fd)) {
            parked_flags_ = ::fcntl(fd, F_GETFD);
            parked_ = tether::unique_handle(::fcntl(fd, F_DUPFD_CLOEXEC, 800));
        }
        placed_ = tether::unique_handle(::dup3(h.get(), fd, O_CLOEXEC));
    }
    ~placed_at() {
        if (!parked_) return;
        ::dup3(parked_.get(), fd_, (parked_flags_ & FD_CLOEXEC) != 0 ? O_CLOEXEC : 0);
    }
    placed_at(const placed_at&) = delete;
    placed_at& operator=(const placed_at&) = delete;
    tether::unique_handle take() { return std::move(placed_); }

private:
    int fd_;
    int parked_flags_{0};
    tether::unique_handle parked_;
    tether::unique_handle placed_;
};

}  // namespace

TEST(PosixSpawn, SourcesAtTheTargetNumbersPassedSwapped) {
    auto x = high_pipe(700);
    auto y = high_pipe(710);
    // The parent's 3 goes to the child's 4 and the parent's 4 to the child's 3.
    placed_at slot3(std::move(x.theirs), 3);
    placed_at slot4(std::move(y.theirs), 4);
    auto at3 = slot3.take();
    auto at4 = slot4.take();
    ASSERT_EQ(at3.get(), 3);
    ASSERT_EQ(at4.get(), 4);
    auto opt = tether_test::role_options("check_numbers", {"x=4", "y=3"});
    opt.pass_at(4, std::move(at3), "x").pass_at(3, std::move(at4), "y");
    auto ch = tether::spawn(std::move(opt));
    EXPECT_EQ(tether::read_to_end(x.ours), "x");
    EXPECT_EQ(tether::read_to_end(y.ours), "y");
    EXPECT_TRUE(ch.wait().success());
}

TEST(PosixSpawn, SourceAtItsOwnTargetNumber) {
    auto x = high_pipe(720);
    placed_at slot3(std::move(x.theirs), 3);
    auto at3 = slot3.take();
    ASSERT_EQ(at3.get(), 3);
    auto opt = tether_test::role_options("check_numbers", {"x=3"});
    opt.pass_at(3, std::move(at3), "x");  // close-on-exec must still be cleared in the child
    auto ch = tether::spawn(std::move(opt));
    EXPECT_EQ(tether::read_to_end(x.ours), "x");
    EXPECT_TRUE(ch.wait().success());
}

TEST(PosixSpawn, PassAtBelowThreeIsRejected) {
    for (int fd : {0, 1, 2, -1, -5}) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("exit_with", {"0"});
        opt.pass_at(fd, std::move(theirs), "low");
        std::error_code ec;
        auto c = tether::spawn(std::move(opt), ec);
        EXPECT_EQ(ec, tether::errc::invalid_argument) << fd;
        EXPECT_FALSE(c);
        std::string what;
        try {
            (void)tether::spawn(std::move(opt));
        } catch (const std::system_error& e) {
            what = e.what();
        }
        EXPECT_TRUE(contains(what, "child descriptor " + std::to_string(fd) + " is below 3")) << what;
        EXPECT_TRUE(opt.handles[0].h);  // NOLINT(bugprone-use-after-move)
    }
}

TEST(PosixSpawn, PassAtTheSameNumberTwiceIsRejected) {
    auto a = tether::make_pipe(tether::direction::in);
    auto b = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.pass_at(6, std::move(a.theirs)).pass_at(6, std::move(b.theirs));
    std::error_code ec;
    (void)tether::spawn(std::move(opt), ec);
    EXPECT_EQ(ec, tether::errc::invalid_argument);
}

// ---- ownership

TEST(PosixSpawn, SuccessClosesTheParentsCopies) {
    auto p1 = tether::make_pipe(tether::direction::in);
    auto p2 = tether::make_pipe(tether::direction::in);
    auto a = moved_high(std::move(p1.theirs), 600);
    auto out = moved_high(std::move(p2.theirs), 610);
    int a_fd = a.get(), out_fd = out.get();
    auto opt = tether_test::role_options("write_names", {"a"});
    opt.pass(std::move(a), "a");
    opt.out = tether::stdio::from(std::move(out));
    auto c = tether::spawn(std::move(opt));
    EXPECT_TRUE(tether_test::fd_closed(a_fd));
    EXPECT_TRUE(tether_test::fd_closed(out_fd));
    EXPECT_EQ(tether::read_to_end(p1.ours), "a");
    EXPECT_TRUE(c.wait().success());
}

// ---- exec failures: a clear error, the handles kept, no zombie, no descriptor left

namespace {

struct failure_case {
    std::string program;
    std::string cwd;
    int err;
    std::string cause;  // a phrase the message must hold
};

void expect_spawn_failure(const failure_case& fc) {
    auto before = tether_test::open_fds();
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto theirs_fd = theirs.get();
    tether::spawn_options opt;
    opt.argv = {fc.program, "arg"};
    opt.cwd = fc.cwd;
    opt.in = tether::stdio::null();       // temporaries of every kind, all to be closed on failure
    opt.err = tether::stdio::pipe();
    opt.pass(std::move(theirs), "kept");
    try {
        (void)tether::spawn(std::move(opt));
        ADD_FAILURE() << "spawned " << fc.program;
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::error_code(fc.err, std::system_category())) << e.what();
        EXPECT_TRUE(contains(e.what(), fc.program)) << e.what();
        EXPECT_TRUE(contains(e.what(), fc.cause)) << e.what();
    }
    EXPECT_EQ(opt.handles.at(0).h.get(), theirs_fd);  // NOLINT(bugprone-use-after-move)
    EXPECT_FALSE(tether_test::fd_closed(theirs_fd));
    std::error_code ec = tether::errc::closed;
    auto c = tether::spawn(std::move(opt), ec);
    EXPECT_EQ(ec, std::error_code(fc.err, std::system_category())) << "the error_code overload fills the code";
    EXPECT_FALSE(c);
    tether::reap_detached();  // children of earlier tests that ended meanwhile are not ours to judge
    EXPECT_TRUE(tether_test::zombie_children().empty()) << "a failed spawn leaves no zombie";
    // The same options, fixed, succeed and consume the handle.
    opt.argv = {tether::current_executable_path(), "--role", "write_names", "kept"};
    opt.cwd.clear();
    {
        auto ok = tether::spawn(std::move(opt));
        EXPECT_EQ(tether::read_to_end(ours), "kept");
        EXPECT_TRUE(ok.wait().success());
    }  // and with it our end of its stderr pipe
    ours.reset();
    EXPECT_EQ(tether_test::join(tether_test::open_fds()), tether_test::join(before));
}

}  // namespace

TEST(PosixSpawnFailure, MissingProgram) {
    expect_spawn_failure({"/nonexistent/tether-missing", "", ENOENT, "No such file or directory"});
}

TEST(PosixSpawnFailure, ADirectory) {
    tether_test::temp_dir dir;
    expect_spawn_failure({dir.path(), "", EACCES, "it is a directory"});
}

TEST(PosixSpawnFailure, NotExecutable) {
    tether_test::temp_dir dir;
    auto file = dir.file("data", "#!/bin/sh\nexit 0\n", 0644);
    expect_spawn_failure({file, "", EACCES, "it is not executable"});
}

TEST(PosixSpawnFailure, NotAnExecutableFormat) {
    tether_test::temp_dir dir;
    auto file = dir.file("garbage", "\x01\x02 not a program", 0755);
    expect_spawn_failure({file, "", ENOEXEC, "Exec format error"});
}

TEST(PosixSpawnFailure, BadWorkingDirectory) {
    expect_spawn_failure({"/bin/true", "/nonexistent/tether-dir", ENOENT, "/nonexistent/tether-dir"});
    tether_test::temp_dir dir;
    auto file = dir.file("plain", "", 0644);
    expect_spawn_failure({"/bin/true", file, ENOTDIR, "working directory"});
}

// The outcome reaches the parent two ways: through our memory when the child shared it (the
// vfork path: no wait for the report pipe), through the report pipe when it did not (the fork
// path, as under the sanitizers and valgrind). Both name the step and leave nothing behind.
TEST(PosixSpawnFailure, BothReportPathsNameTheFailedStep) {
    for (bool fork_path : {false, true}) {
        SCOPED_TRACE(fork_path ? "fork path (report pipe)" : "vfork path (shared memory)");
        tether::detail::test_hooks::force_fork_path(fork_path);
        expect_spawn_failure({"/nonexistent/tether-missing", "", ENOENT, "No such file or directory"});
        expect_spawn_failure({"/bin/true", "/nonexistent/tether-dir", ENOENT, "/nonexistent/tether-dir"});
        tether::detail::test_hooks::force_fork_path(false);
    }
}

TEST(PosixSpawnFailure, NoChildIsLeftToWaitFor) {
    tether::reap_detached();
    std::error_code ec;
    tether::spawn_options opt;
    opt.argv = {"/nonexistent/x"};
    auto c = tether::spawn(std::move(opt), ec);
    EXPECT_TRUE(ec);
    EXPECT_FALSE(c);
    tether::reap_detached();
    // WNOWAIT: look without reaping, so a detached child of another test is not stolen.
    siginfo_t si{};
    int rc = ::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0) EXPECT_EQ(si.si_pid, 0) << "an exited, unreaped child exists: " << si.si_pid;
    else EXPECT_EQ(errno, ECHILD);
}

// ---- signals and exit statuses

TEST(PosixChild, EndOfFileAndStatusAfterASegfault) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("crash_segv");
    opt.pass(std::move(theirs), "held");
    auto c = tether::spawn(std::move(opt));
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(ours, 20s, ec), "");
    EXPECT_FALSE(ec) << "end-of-file, not " << ec.message();
    auto st = c.wait();
    EXPECT_TRUE(st.signalled());
    EXPECT_EQ(st.code, SIGSEGV);
    EXPECT_FALSE(st.core_dumped) << "RLIMIT_CORE is 0 in the child";
    EXPECT_EQ(st.describe(), "killed by signal 11 (SIGSEGV)");
}

TEST(PosixChild, KillTerminateAndAnySignal) {
    for (int sig : {SIGKILL, SIGTERM, SIGUSR1, SIGINT}) {
        auto opt = tether_test::role_options("wait_stdin_eof");
        opt.in = tether::stdio::pipe();
        auto c = tether::spawn(std::move(opt));
        if (sig == SIGKILL)
            c.kill();
        else if (sig == SIGTERM)
            c.terminate();
        else
            c.signal(sig);
        auto st = c.wait();
        EXPECT_TRUE(st.signalled()) << st.describe();
        EXPECT_EQ(st.code, sig);
        EXPECT_TRUE(contains(st.describe(), "killed by signal " + std::to_string(sig) + " (SIG")) << st.describe();
    }
}

TEST(PosixChild, SignalToAnInvalidNumberIsAnError) {
    auto opt = tether_test::role_options("wait_stdin_eof");
    opt.in = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    EXPECT_THROW(c.signal(12345), std::system_error);
    c.kill();
    EXPECT_EQ(c.wait().code, SIGKILL);
}

TEST(PosixExitStatus, Describe) {
    tether::exit_status s{tether::exit_status::kind::signalled, SIGKILL, false};
    EXPECT_EQ(s.describe(), "killed by signal 9 (SIGKILL)");
    s = {tether::exit_status::kind::signalled, SIGABRT, true};
    EXPECT_EQ(s.describe(), "killed by signal 6 (SIGABRT) (core dumped)");
    s = {tether::exit_status::kind::signalled, 200, false};
    EXPECT_EQ(s.describe(), "killed by signal 200");
}

// ---- destructor policy: no zombies

namespace {

// A second pidfd on the child, to watch it after the child object is gone.
tether::unique_handle watch(const tether::child& c) {
    return tether::unique_handle(::fcntl(c.process_handle().get(), F_DUPFD_CLOEXEC, 0));
}

#define TETHER_NEED_PIDFD(c)                                                                        \
    if (!(c).process_handle())                                                                     \
    GTEST_SKIP() << "no pidfd for the child (kernel < 5.3, or valgrind, which lacks pidfd_open): " \
                    "this test watches the child through one"

void wait_exit(const tether::unique_handle& pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 20000), 1) << "the child did not end";
}

bool reaped(const tether::unique_handle& pidfd) {
    siginfo_t si{};
    return ::waitid(static_cast<idtype_t>(3 /* P_PIDFD */), static_cast<id_t>(pidfd.get()), &si,
                    WEXITED | WNOHANG) == -1 && errno == ECHILD;
}

}  // namespace

TEST(PosixChild, DestroyedWhileRunningIsDetachedAndReapedLater) {
    tether::reap_detached();
    std::size_t before = tether::reap_detached();
    tether::unique_handle stdin_end, pidfd;
    {
        auto opt = tether_test::role_options("wait_stdin_eof");
        opt.in = tether::stdio::pipe();
        auto c = tether::spawn(std::move(opt));
        TETHER_NEED_PIDFD(c);
        pidfd = watch(c);
        stdin_end = c.take_stdin();
    }  // destroyed while running: neither killed nor waited for
    EXPECT_EQ(tether::reap_detached(), before + 1);
    EXPECT_FALSE(reaped(pidfd)) << "still running, still ours";
    stdin_end.reset();  // now it exits
    wait_exit(pidfd);
    EXPECT_EQ(tether::reap_detached(), before);
    EXPECT_TRUE(reaped(pidfd)) << "reaped: no zombie";
}

TEST(PosixChild, DestroyedAfterExitIsReapedAtOnce) {
    tether::unique_handle pidfd;
    std::size_t before = tether::reap_detached();
    {
        auto c = tether::spawn(tether_test::role_options("exit_with", {"0"}));
        TETHER_NEED_PIDFD(c);
        pidfd = watch(c);
        wait_exit(pidfd);
    }
    EXPECT_TRUE(reaped(pidfd));
    EXPECT_EQ(tether::reap_detached(), before);
}

TEST(PosixChild, KillOnDestroyKillsAndReaps) {
    tether::unique_handle pidfd;
    {
        auto opt = tether_test::role_options("wait_stdin_eof");
        opt.in = tether::stdio::pipe();
        opt.kill_on_destroy = true;
        auto c = tether::spawn(std::move(opt));
        TETHER_NEED_PIDFD(c);
        pidfd = watch(c);
    }
    EXPECT_TRUE(reaped(pidfd));
}

TEST(PosixChild, MoveAssignOverARunningChildAppliesItsPolicy) {
    tether::unique_handle pidfd;
    auto opt = tether_test::role_options("wait_stdin_eof");
    opt.in = tether::stdio::pipe();
    opt.kill_on_destroy = true;
    auto first = tether::spawn(std::move(opt));
    TETHER_NEED_PIDFD(first);
    pidfd = watch(first);
    first = tether::spawn(tether_test::role_options("exit_with", {"0"}));
    EXPECT_TRUE(reaped(pidfd)) << "the overwritten child was killed and reaped";
    EXPECT_TRUE(first.wait().success());
}

TEST(PosixChild, ExplicitDetach) {
    std::size_t before = tether::reap_detached();
    auto opt = tether_test::role_options("wait_stdin_eof");
    opt.in = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    TETHER_NEED_PIDFD(c);
    auto pidfd = watch(c);
    auto in = c.take_stdin();
    c.detach();
    EXPECT_FALSE(c);
    EXPECT_EQ(tether::reap_detached(), before + 1);
    in.reset();
    wait_exit(pidfd);
    EXPECT_EQ(tether::reap_detached(), before);
}

// ---- the manifest and grandchildren

TEST(PosixManifest, AGrandchildIgnoresItsParentsManifest) {
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("spawn_grandchild");
    opt.pass(std::move(theirs), "log");
    auto text = output_of(std::move(opt));
    EXPECT_EQ(text, "ec=" + tether::make_error_code(tether::errc::no_manifest).message() + "\n");
}

TEST(PosixManifest, AMalformedManifestIsReportedNotTrusted) {
    for (std::string bad : {"log", "log:", "log:x", "log:3,", "a b:3", "log:3,log:4", "log:-3"}) {
        auto opt = tether_test::role_options("print_inherited_names", {"log"});
        opt.env_set[tether::manifest_variable] = bad;
        opt.env_set[tether::manifest_parent_variable] = std::to_string(::getpid());
        auto text = output_of(std::move(opt));
        EXPECT_EQ(text, "ec=" + tether::make_error_code(tether::errc::invalid_handle_string).message() + "\n")
            << bad;
    }
}

// ---- signal state and limits

TETHER_CHILD_ROLE(print_signal_state) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("SigBlk:", 0) == 0 || line.rfind("SigIgn:", 0) == 0) std::cout << line << "\n";
    return 0;
}

TEST(PosixSpawn, ChildStartsWithNoBlockedSignalsAndDefaultSigpipe) {
    // Our thread blocks SIGPIPE and SIGUSR1 and the process ignores SIGPIPE; none of it reaches
    // the child (an ignored SIGPIPE would make a child's writes fail silently instead of dying).
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    auto old_handler = std::signal(SIGPIPE, SIG_IGN);
    auto text = output_of(tether_test::role_options("print_signal_state"));
    std::signal(SIGPIPE, old_handler);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    EXPECT_TRUE(contains(text, "SigBlk:\t0000000000000000\n")) << text;
    auto ign = text.substr(text.find("SigIgn:") + 8, 16);
    auto mask = std::stoull(ign, nullptr, 16);
    EXPECT_EQ(mask & (1ULL << (SIGPIPE - 1)), 0u) << text;
}

TEST(PosixSpawn, PassAtAboveTheDescriptorLimitIsAClearErrorAndKeepsTheHandle) {
    rlimit lim{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
    if (lim.rlim_cur > 1u << 20) GTEST_SKIP() << "RLIMIT_NOFILE is too large to exceed in a test";
    int too_high = static_cast<int>(lim.rlim_cur) + 10;
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.pass_at(too_high, std::move(theirs), "high");
    try {
        (void)tether::spawn(std::move(opt));
        FAIL() << "spawned";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::too_many_files_open);
        EXPECT_TRUE(contains(e.what(), std::to_string(too_high))) << e.what();
        EXPECT_TRUE(contains(e.what(), std::to_string(lim.rlim_cur))) << e.what();
        EXPECT_TRUE(contains(e.what(), "RLIMIT_NOFILE")) << e.what();
    }
    EXPECT_TRUE(opt.handles[0].h);  // NOLINT(bugprone-use-after-move)
}

TEST(PosixSpawn, ManyPassedHandlesGetConsecutiveNumbers) {
    std::vector<tether::pipe_pair> pipes;
    std::vector<std::string> expect;
    auto opt = tether_test::role_options("check_numbers");
    for (int i = 0; i < 60; ++i) {
        pipes.push_back(tether::make_pipe(tether::direction::in));
        auto name = "h" + std::to_string(i);
        opt.pass(std::move(pipes.back().theirs), name);
        opt.argv.push_back(name + "=" + std::to_string(3 + i));
    }
    auto c = tether::spawn(std::move(opt));
    for (int i = 0; i < 60; ++i) EXPECT_EQ(tether::read_to_end(pipes[i].ours), "h" + std::to_string(i));
    EXPECT_TRUE(c.wait().success());
}

TEST(PosixSpawn, AnOverriddenVariableAppearsOnce) {
    ASSERT_EQ(::setenv("TETHER_T_TWICE", "old", 1), 0);
    auto opt = tether_test::role_options("print_environ");
    opt.env_set["TETHER_T_TWICE"] = "new";
    auto text = output_of(std::move(opt));
    ::unsetenv("TETHER_T_TWICE");
    EXPECT_TRUE(contains(text, "\nTETHER_T_TWICE=new\n"));
    EXPECT_FALSE(contains(text, "TETHER_T_TWICE=old"));
    EXPECT_EQ(text.find("TETHER_T_TWICE="), text.rfind("TETHER_T_TWICE="));
}

TEST(PosixSpawn, RelativePathEntriesAreSearchedInTheWorkingDirectory) {
    tether_test::temp_dir dir;
    auto bin = dir.subdir("bin");
    ::symlink(tether::current_executable_path().c_str(), (bin + "/tether-rel-probe").c_str());
    tether::spawn_options opt;
    opt.argv = {"tether-rel-probe", "--role", "echo_args", "via relative PATH"};
    opt.cwd = dir.path();
    opt.env_set["PATH"] = "bin";  // relative: as the child, which starts in `cwd`, sees it
    auto text = output_of(std::move(opt));
    ::unlink((bin + "/tether-rel-probe").c_str());
    EXPECT_EQ(text, "via relative PATH\n");
}

TEST(PosixSpawnFailure, RelativeProgramMissingInTheWorkingDirectory) {
    tether_test::temp_dir dir;
    tether::spawn_options opt;
    opt.argv = {"./absent"};
    opt.cwd = dir.path();
    try {
        (void)tether::spawn(std::move(opt));
        FAIL() << "spawned";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::error_code(ENOENT, std::system_category()));
        EXPECT_TRUE(contains(e.what(), "relative to working directory '" + dir.path() + "'")) << e.what();
    }
}
