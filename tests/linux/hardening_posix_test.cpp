// Linux: the spawn defects an adversarial run found: closed stdio in the parent, a
// grandchild that inherited the descriptors, descriptor limits, and error messages that name
// their input. Each test failed before its fix.
#include "support/harness.hpp"
#include "detail/manifest.hpp"
#include "linux/exec_child.hpp"
#include "testing/test_hooks.hpp"
#include "support/posix_util.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <iostream>
#include <sys/resource.h>
#include <unistd.h>

using namespace std::chrono_literals;
using tether_test::contains;

namespace {

// The message of the error spawn throws for `opt` ("" if it does not throw).
std::string spawn_error(tether::spawn_options opt) {
    try {
        auto c = tether::spawn(std::move(opt));
        c.wait();
    } catch (const std::system_error& e) {
        return e.what();
    }
    return "";
}

// A descriptor number that is not open here.
int closed_number() {
    for (int fd = 900;; ++fd)
        if (tether_test::fd_closed(fd)) return fd;
}

struct fork_forced {
    fork_forced() { tether::detail::test_hooks::force_fork_path(true); }
    ~fork_forced() { tether::detail::test_hooks::force_fork_path(false); }
    fork_forced(const fork_forced&) = delete;
    fork_forced& operator=(const fork_forced&) = delete;
};

}  // namespace

// ---- 1. a parent whose 0-2 are closed gives none of its own descriptors to a child

// Blocks until its stdin ends (the test's own read below bounds how long that is).
TETHER_CHILD_ROLE(wait_for_stdin_eof) {
    char c;
    while (::read(0, &c, 1) > 0) {
    }
    return 0;
}

// Our fd 1 is the close-on-exec write end of a pipe (stdout was closed; a later descriptor
// landed on 1). A child with stdout inherited and stderr into stdout must not receive it:
// end-of-file on the pipe arrives while the child runs. Exit 0 if it does, 1 if not.
TETHER_CHILD_ROLE(stderr_into_a_closed_stdout) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return 3;
    ::close(1);
    if (::fcntl(fds[1], F_DUPFD_CLOEXEC, 1) != 1) return 4;
    ::close(fds[1]);
    auto opt = tether_test::role_options("wait_for_stdin_eof");
    opt.in = tether::stdio::pipe();
    opt.err = tether::stdio::to_stdout();  // stdout inherited: our fd 1
    auto c = tether::spawn(std::move(opt));
    ::close(1);  // our only copy of the write end
    std::error_code ec;
    (void)tether::read_to_end_for(tether::unique_handle(fds[0]), 10s, ec);
    c.take_stdin().reset();
    bool child_ok = c.wait().success();
    return !ec && child_ok ? 0 : 1;
}

TEST(PosixClosedStdio, StderrIntoStdoutNeverReceivesOurCloseOnExecDescriptor) {
    auto c = tether::spawn(tether_test::role_options("stderr_into_a_closed_stdout"));
    EXPECT_EQ(c.wait().describe(), "exited with code 0");
}

TETHER_CHILD_ROLE(list_fds_to_out) {
    auto out = tether::inherited("out");
    tether::write_all(out, tether_test::join(tether_test::open_fds()));
    return 0;
}

// With 0, 1 and 2 closed, a pipe for the child lands on 0 and 1. The child (stdio inherited,
// stderr into stdout) must hold only what it was passed. Writes the listing to "report".
TETHER_CHILD_ROLE(spawn_with_stdio_closed) {
    auto report = tether::inherited("report");
    ::close(0);
    ::close(1);
    ::close(2);
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    if (ours.get() > 2 || theirs.get() > 2) return 3;  // the case under test did not arise
    auto opt = tether_test::role_options("list_fds_to_out");
    opt.err = tether::stdio::to_stdout();
    opt.pass(std::move(theirs), "out");
    auto c = tether::spawn(std::move(opt));
    std::error_code ec;
    auto listing = tether::read_to_end_for(ours, 10s, ec);
    bool ok = c.wait().success();
    tether::write_all(report, ec ? "timed out" : ok ? listing : "child failed");
    return 0;
}

TEST(PosixClosedStdio, AParentWithoutStdioPassesOnlyWhatItNames) {
    for (bool fork_path : {false, true}) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        std::unique_ptr<fork_forced> mode;
        if (fork_path) mode = std::make_unique<fork_forced>();
        auto opt = tether_test::role_options("spawn_with_stdio_closed");
        opt.pass(std::move(theirs), "report");
        auto c = tether::spawn(std::move(opt));
        std::error_code ec;
        auto text = tether::read_to_end_for(ours, 20s, ec);
        EXPECT_EQ(c.wait().describe(), "exited with code 0");
        EXPECT_EQ(text, "3") << (fork_path ? "fork path" : "clone path");
    }
}

// ---- 4. a grandchild ignores the manifest, even with the descriptors inherited

// Runs a grandchild through system() before taking "x" (so the grandchild inherits fd 3 and
// the whole environment), then takes "x" itself.
TETHER_CHILD_ROLE(system_then_inherit) {
    std::string cmd = "'" + tether::current_executable_path() + "' --role print_inherited_names x";
    std::cout << std::flush;
    if (std::system(cmd.c_str()) != 0) return 2;
    std::error_code ec;
    auto x = tether::inherited("x", ec);
    std::cout << "child: " << (ec ? ec.message() : "took x") << "\n";
    return 0;
}

TEST(PosixManifest, AGrandchildThatInheritedTheDescriptorIgnoresTheManifest) {
    for (bool fork_path : {false, true}) {
        std::unique_ptr<fork_forced> mode;
        if (fork_path) mode = std::make_unique<fork_forced>();
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("system_then_inherit");
        opt.pass(std::move(theirs), "x");
        auto text = tether_test::output_of(std::move(opt));
        EXPECT_EQ(text, "ec=" + tether::make_error_code(tether::errc::no_manifest).message() + "\nchild: took x\n")
            << (fork_path ? "fork path" : "clone path");
    }
}

TETHER_CHILD_ROLE(print_env_child_pid) {
    const char* v = std::getenv(tether::detail::manifest_child_variable);
    std::cout << (v != nullptr ? v : "unset");
    return 0;
}

TEST(PosixManifest, TheChildWritesItsOwnIdAndOnlyWithNamedHandles) {
    for (bool fork_path : {false, true}) {
        std::unique_ptr<fork_forced> mode;
        if (fork_path) mode = std::make_unique<fork_forced>();
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("print_env_child_pid");
        opt.pass(std::move(theirs), "x");
        opt.out = tether::stdio::pipe();
        auto c = tether::spawn(std::move(opt));
        EXPECT_EQ(tether::take_stdout_text(c), std::to_string(c.pid()));
        EXPECT_TRUE(c.wait().success());
    }
    EXPECT_EQ(tether_test::output_of(tether_test::role_options("print_env_child_pid")), "unset");
}

// Takes "x", then prints each manifest variable as getenv sees it, then what a process started
// without tether (popen: sh -c env) inherits of them.
TETHER_CHILD_ROLE(inherit_then_show_env) {
    auto x = tether::inherited("x");
    for (const char* name : {tether::manifest_variable, tether::manifest_parent_variable,
                             tether::detail::manifest_child_variable}) {
        const char* v = std::getenv(name);
        std::cout << name << "=" << (v != nullptr ? v : "(unset)") << "\n";
    }
    std::cout << std::flush;
    FILE* sh = ::popen("env", "r");
    if (sh == nullptr) return 2;
    char line[4096];
    // The three manifest variables only: the suite's own settings (TETHER_FAULT_TRIALS, ...) pass.
    while (std::fgets(line, sizeof line, sh) != nullptr)
        for (const char* v : {tether::manifest_variable, tether::manifest_parent_variable, tether::detail::manifest_child_variable})
            if (std::string(line).rfind(std::string(v) + "=", 0) == 0) std::cout << "sh sees " << line;
    return ::pclose(sh) == 0 ? 0 : 3;
}

TEST(PosixManifest, InheritedRemovesAllThreeManifestVariables) {
    // A reader id left behind would be inherited by every process started later, by any means.
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("inherit_then_show_env");
    opt.pass(std::move(theirs), "x");
    EXPECT_EQ(tether_test::output_of(std::move(opt)),
              std::string(tether::manifest_variable) + "=(unset)\n" + tether::manifest_parent_variable +
                  "=(unset)\n" + tether::detail::manifest_child_variable + "=(unset)\n");
}

// ---- 6. pass_at near RLIMIT_NOFILE: a target below the limit works, one at or above it is
// the descriptor limit (EMFILE), and the moves need no number above the targets

TETHER_CHILD_ROLE(pass_near_the_limit) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = 64;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return 3;
    struct attempt {
        int fd;
        bool stdout_pipe;  // one more source to move
    };
    for (attempt a : {attempt{64, false}, attempt{63, true}, attempt{62, false}}) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("list_fds");
        opt.pass_at(a.fd, std::move(theirs), "far");
        if (a.stdout_pipe) opt.out = tether::stdio::pipe();
        std::string head = std::to_string(a.fd) + (a.stdout_pipe ? " with a stdout pipe: " : ": ");
        std::cout << std::flush;  // the child may print into our stdout
        try {
            auto c = tether::spawn(std::move(opt));
            std::string listing = a.stdout_pipe ? tether::take_stdout_text(c) : "";
            std::cout << "\n" << head << (c.wait().success() ? "ok " : "failed ") << listing << "\n";
        } catch (const std::system_error& e) {
            bool emfile = e.code() == std::errc::too_many_files_open;
            std::cout << "\n" << head << (emfile ? "too_many_files_open " : "other ") << e.what() << "\n";
        }
    }
    return 0;
}

TEST(PosixSpawnLimits, PassAtTheLimitIsTheDescriptorLimitAndBelowItWorks) {
    auto text = tether_test::output_of(tether_test::role_options("pass_near_the_limit"));
    EXPECT_TRUE(contains(text, "64: too_many_files_open")) << text;
    EXPECT_TRUE(contains(text, "child descriptor 64 is at or above the descriptor limit 64 (RLIMIT_NOFILE)"))
        << text;
    EXPECT_TRUE(contains(text, "63 with a stdout pipe: ok 0,1,2,63\n")) << text;
    EXPECT_TRUE(contains(text, "0,1,2,62\n62: ok")) << text;
}

namespace {
// Spawns check_numbers with four pipes' write ends moved among their own numbers — a cycle
// (a -> b, b -> a) and a chain (d -> c, c -> t) — under a limit that leaves one spare number
// in the child beyond the report pipe; prints what each pipe received ("A=A B=B C=C D=D").
std::string moves_under_a_tight_limit(rlim_t original) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = original;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return "setrlimit failed";
    std::vector<tether::pipe_pair> pipes;
    for (int i = 0; i < 4; ++i) pipes.push_back(tether::make_pipe(tether::direction::in));
    int a = pipes[0].theirs.get(), b = pipes[1].theirs.get(), c = pipes[2].theirs.get();
    int highest = tether_test::open_fds().back();
    int t = highest + 3;  // above the two numbers of spawn's report pipe
    lim.rlim_cur = static_cast<rlim_t>(t) + 2;  // t + 1: the one spare for the cycle's temporary
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return "setrlimit failed";
    auto opt = tether_test::role_options(
        "check_numbers", {"A=" + std::to_string(b), "B=" + std::to_string(a), "C=" + std::to_string(t),
                          "D=" + std::to_string(c)});
    opt.pass_at(b, std::move(pipes[0].theirs), "A").pass_at(a, std::move(pipes[1].theirs), "B");
    opt.pass_at(t, std::move(pipes[2].theirs), "C").pass_at(c, std::move(pipes[3].theirs), "D");
    std::string out;
    try {
        auto child = tether::spawn(std::move(opt));
        out = child.wait().success() ? "" : "the grandchild failed; ";
    } catch (const std::system_error& e) {
        return e.what();
    }
    for (int i = 0; i < 4; ++i) {
        std::error_code ec;
        out += std::string(i == 0 ? "" : " ") + static_cast<char>('A' + i) + "=" +
               tether::read_to_end_for(pipes[static_cast<std::size_t>(i)].ours, 10s, ec);
    }
    return out;
}
}  // namespace

TETHER_CHILD_ROLE(moves_under_a_tight_limit) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    rlim_t original = lim.rlim_cur;
    std::cout << "clone: " << moves_under_a_tight_limit(original) << "\n";
    tether::detail::test_hooks::force_fork_path(true);
    std::cout << "fork: " << moves_under_a_tight_limit(original) << "\n";
    return 0;
}

TEST(PosixSpawnLimits, HandlesMovedInACycleAndAChainNeedNoNumberAboveTheTargets) {
    // Raw posix_spawn needs no spare number to place descriptors; neither may spawn: at most one
    // temporary for a cycle, at the lowest free number.
    EXPECT_EQ(tether_test::output_of(tether_test::role_options("moves_under_a_tight_limit")),
              "clone: A=A B=B C=C D=D\nfork: A=A B=B C=C D=D\n");
}

// ---- 7. messages that name the input

TEST(PosixSpawnMessages, APassedDescriptorThatIsNotOpenIsNamed) {
    int n = closed_number();
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.pass(tether::unique_handle(n), "ctl");
    auto msg = spawn_error(std::move(opt));
    EXPECT_TRUE(contains(msg, "passed handle #1 ('ctl') (descriptor " + std::to_string(n) + ") is not open")) << msg;
}

TEST(PosixSpawnMessages, AStdioFromDescriptorThatIsNotOpenIsNamed) {
    int n = closed_number();
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.out = tether::stdio::from(tether::unique_handle(n));
    auto msg = spawn_error(std::move(opt));
    EXPECT_TRUE(contains(msg, "stdout is stdio::from() descriptor " + std::to_string(n) + ", which is not open"))
        << msg;
}

// With every descriptor number taken, spawn /bin/true; print the error, or on success
// "spawned: " and the child's exit status. `fork_path`: the child is started by fork, which
// needs the report pipe (as under the sanitizers and valgrind); otherwise by clone(CLONE_VM),
// which needs it only until a child was seen to share our memory: the warm-up spawn shows that.
int spawn_with_a_full_table(bool fork_path) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = 32;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return 3;
    // The same failure path once with descriptors to spare: UBSan's vptr check verifies a type
    // it has not seen by reading /proc/self/maps, which it cannot open at EMFILE; after this its
    // cache knows the error categories.
    tether::spawn_options warm;
    warm.argv = {"/nonexistent/tether-warm-up"};
    (void)spawn_error(std::move(warm));
    tether::detail::test_hooks::force_fork_path(fork_path);
    std::vector<tether::unique_handle> fill;
    for (;;) {
        int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        fill.emplace_back(fd);
    }
    std::string msg;
    try {
        tether::spawn_options opt;
        opt.argv = {"/bin/true"};
        auto c = tether::spawn(std::move(opt));
        msg = "spawned: " + c.wait().describe();
    } catch (const std::system_error& e) {
        msg = e.what();
    }
    fill.clear();
    std::cout << msg;
    return 0;
}

TETHER_CHILD_ROLE(spawn_out_of_descriptors) { return spawn_with_a_full_table(args.at(0) == "fork"); }

// Out of descriptors exactly when spawn opens its own report pipe: the message says so.
TEST(PosixSpawnMessages, EmfileOnSpawnsOwnPipeIsNotCalledClone) {
    auto msg = tether_test::output_of(tether_test::role_options("spawn_out_of_descriptors", {"fork"}));
    EXPECT_TRUE(contains(msg, "cannot create spawn's own report pipe")) << msg;
    EXPECT_TRUE(contains(msg, "Too many open files")) << msg;
    EXPECT_FALSE(contains(msg, "clone")) << msg;
}

// Where clone shares our memory the report pipe is not needed, so a full table does not stop a
// spawn that needs no descriptor of its own (the child is then known by its pid alone, which is
// safe while it is ours and unreaped). Under the sanitizers every child starts by fork, which
// needs the pipe: there the message is the one above.
TEST(PosixSpawnMessages, AFullTableDoesNotStopASpawnThatNeedsNoDescriptor) {
    auto msg = tether_test::output_of(tether_test::role_options("spawn_out_of_descriptors", {"vfork"}));
    if (tether::detail::use_fork_by_default()) {
        EXPECT_TRUE(contains(msg, "cannot create spawn's own report pipe")) << msg;
    } else {
        EXPECT_EQ(msg, "spawned: exited with code 0");
    }
}
