// POSIX process lifetimes: process groups and sessions, both ways of ending a tree (the
// per-child cgroup v2 and the process-group fallback), parent death tied to the process rather
// than the spawning thread, and what a detached child looks like from inside.
#include "support/harness.hpp"
#include "support/lifetime_support.hpp"
#include "detail/backend.hpp"
#include "linux/tree.hpp"
#include "testing/test_hooks.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using tether_test::contains;
using tether_test::ended_within;
using tether_test::expect_ended;
using tether_test::numbers;
using tether_test::read_line_for;
using tether_test::running_now;

namespace {

// The process-group fallback for the scope of a test.
struct no_cgroup {
    no_cgroup() { tether::detail::test_hooks::force_no_cgroup(true); }
    ~no_cgroup() { tether::detail::test_hooks::force_no_cgroup(false); }
    no_cgroup(const no_cgroup&) = delete;
    no_cgroup& operator=(const no_cgroup&) = delete;
};

std::string cgroup_reason() { return tether::detail::cgroup_unavailable_reason(); }

// The middle's own spawn follows ours: no cgroup there either when we use the fallback.
tether_test::tree_ids start_tree(const std::string& grandchild_group, bool exit_after) {
    return tether_test::start_tree(grandchild_group, exit_after, tether::process_group::new_group,
                                   !cgroup_reason().empty());
}

std::string link_of(const std::string& path) {
    char buf[256];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("?");
}

}  // namespace

// Prints "<pid> <pgid> <sid>".
TETHER_CHILD_ROLE(life_ids) {
    std::printf("%d %d %d\n", static_cast<int>(::getpid()), static_cast<int>(::getpgid(0)),
                static_cast<int>(::getsid(0)));
    return 0;
}

// Reads lines from stdin and echoes each back until end-of-file.
TETHER_CHILD_ROLE(life_echo) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, stdin) != nullptr) {
        std::fputs(buf, stdout);
        std::fflush(stdout);
    }
    return 0;
}

// Detached: writes "<pid> <ppid> <sid> <fd0> <fd1> <fd2>" into the "report" handle.
TETHER_CHILD_ROLE(life_detached_inside) {
    auto h = tether::inherited("report");
    std::string line = std::to_string(::getpid()) + " " + std::to_string(::getppid()) + " " +
                       std::to_string(::getsid(0)) + " " + link_of("/proc/self/fd/0") + " " +
                       link_of("/proc/self/fd/1") + " " + link_of("/proc/self/fd/2") + "\n";
    tether::write_all(h, line);
    return 0;
}

namespace {
void check_group_and_session() {
    auto ids_in = [](tether::process_group g) {
        auto opt = tether_test::role_options("life_ids");
        opt.group = g;
        return numbers(tether_test::output_of(std::move(opt)));
    };
    auto inherit = ids_in(tether::process_group::inherit);
    auto group = ids_in(tether::process_group::new_group);
    auto session = ids_in(tether::process_group::new_session);
    ASSERT_EQ(inherit.size(), 3U);
    ASSERT_EQ(group.size(), 3U);
    ASSERT_EQ(session.size(), 3U);
    EXPECT_EQ(inherit[1], ::getpgid(0));
    EXPECT_EQ(group[1], group[0]);     // its own group
    EXPECT_EQ(group[2], ::getsid(0));  // in our session
    EXPECT_EQ(session[1], session[0]);
    EXPECT_EQ(session[2], session[0]);  // its own session
}
}  // namespace

TEST(ProcessGroupPosix, NewGroupLeadsAGroupAndNewSessionASession) {
    for (bool fork_path : {false, true}) {
        SCOPED_TRACE(fork_path ? "fork path" : "clone(CLONE_VM | CLONE_VFORK) path");
        tether::detail::test_hooks::force_fork_path(fork_path);
        check_group_and_session();
        tether::detail::test_hooks::force_fork_path(false);
    }
}

TEST(ProcessTreePosix, CgroupAvailabilityIsReported) {
    std::string why = cgroup_reason();
    std::cout << "[ info ] per-child cgroup v2: " << (why.empty() ? "available" : "not available: " + why) << "\n";
    auto t = start_tree("inherit", false);
    std::ifstream f("/proc/" + std::to_string(t.grandchild) + "/cgroup");
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(contains(all, "/tether-"), why.empty()) << all;  // the grandchild is in the child's cgroup
    t.c.kill_tree();
    t.c.wait();
}

TEST(ProcessTreePosix, CgroupEndsAReparentedGrandchildThatLeftTheGroup) {
    std::string why = cgroup_reason();
    if (!why.empty()) GTEST_SKIP() << "no per-child cgroup here: " << why;
    auto t = start_tree("new_group", true);  // the middle exits: the grandchild is re-parented
    EXPECT_TRUE(t.c.wait().success());
    ASSERT_TRUE(running_now(t.grandchild));
    t.c.kill_tree();  // after the reap: the cgroup is still ours
    EXPECT_FALSE(running_now(t.grandchild));  // kill_tree returned with the cgroup empty
}

TEST(ProcessTreePosix, CgroupIsRemovedWithTheChildObject) {
    std::string why = cgroup_reason();
    if (!why.empty()) GTEST_SKIP() << "no per-child cgroup here: " << why;
    std::string path;
    {
        auto t = start_tree("inherit", false);
        std::ifstream f("/proc/" + std::to_string(t.middle) + "/cgroup");
        std::string line;
        while (std::getline(f, line))
            if (line.rfind("0::", 0) == 0) path = line.substr(3);
        ASSERT_TRUE(contains(path, "/tether-")) << path;
        t.c.kill_tree();
        t.c.wait();
    }
    // Under whichever mount holds cgroup2 here: look for the directory's name in both places.
    std::string name = path.substr(path.rfind('/'));
    struct stat st {};
    EXPECT_NE(::stat(("/sys/fs/cgroup" + name).c_str(), &st), 0);
    EXPECT_NE(::stat(("/sys/fs/cgroup/unified" + name).c_str(), &st), 0);
}

namespace {
// Polls /proc/<pid>/stat (bounded by 10 s) until the process is stopped ('T').
bool stopped_within_10s(std::int64_t pid) {
    auto end = std::chrono::steady_clock::now() + 10s;
    for (;;) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
        std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        auto close = s.rfind(')');
        if (close != std::string::npos && close + 2 < s.size() && s[close + 2] == 'T') return true;
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(1ms);  // a poll with a deadline
    }
}
}  // namespace

TEST(ProcessTreePosix, CgroupTerminateTreeContinuesStoppedProcesses) {
    // A stopped process keeps SIGTERM pending until it is continued: terminate_tree() promises
    // that each one is, with the cgroup as with the fallback.
    std::string why = cgroup_reason();
    if (!why.empty()) GTEST_SKIP() << "no per-child cgroup here: " << why;
    auto t = start_tree("inherit", false);
    ::kill(static_cast<pid_t>(t.grandchild), SIGSTOP);
    ::kill(static_cast<pid_t>(t.middle), SIGSTOP);
    ASSERT_TRUE(stopped_within_10s(t.grandchild));
    ASSERT_TRUE(stopped_within_10s(t.middle));
    t.c.terminate_tree();
    auto st = t.c.wait_or_kill(10s);
    EXPECT_TRUE(st.signalled());
    EXPECT_EQ(st.code, SIGTERM) << st.describe() << " (SIGKILL: the stopped child never saw SIGTERM)";
    expect_ended(t.grandchild);
}

TEST(ProcessTreePosix, FallbackFindsADescendantThatLeftTheGroup) {
    no_cgroup off;
    auto t = start_tree("new_group", false);
    ASSERT_NE(::getpgid(static_cast<pid_t>(t.grandchild)), static_cast<pid_t>(t.middle));
    t.c.kill_tree();  // found by parent id under /proc
    t.c.wait();
    expect_ended(t.grandchild);
}

TEST(ProcessTreePosix, FallbackEndsAReparentedGrandchildStillInTheGroup) {
    no_cgroup off;
    auto t = start_tree("inherit", true);
    // The middle has exited but is not reaped yet: its id, the group's, cannot be reused.
    ASSERT_TRUE(ended_within(t.middle, 10s));
    t.c.kill_tree();
    t.c.wait();
    expect_ended(t.grandchild);
}

TEST(ProcessTreePosix, FallbackTerminateTreeDeliversSigtermToStoppedProcesses) {
    no_cgroup off;
    auto t = start_tree("new_group", false);
    t.c.terminate_tree();
    auto st = t.c.wait();
    EXPECT_TRUE(st.signalled());
    EXPECT_EQ(st.code, SIGTERM);
    expect_ended(t.grandchild);
}

TEST(ProcessTreePosix, FallbackTreeKillAfterTheReapIsANoOp) {
    no_cgroup off;
    auto t = start_tree("inherit", true);
    EXPECT_TRUE(t.c.wait().success());
    EXPECT_NO_THROW(t.c.kill_tree());
    EXPECT_TRUE(running_now(t.grandchild)) << "documented: the group id may be someone else's";
    tether_test::end_if_running(t.grandchild);  // cleanup of our test's own grandchild
    EXPECT_TRUE(ended_within(t.grandchild, 10s));
}

TEST(KillOnParentExitPosix, ASpawningThreadThatExitsDoesNotKillTheChild) {
    tether::child c;
    pid_t tid = 0;
    std::thread([&] {
        tid = static_cast<pid_t>(::syscall(SYS_gettid));
        auto opt = tether_test::role_options("life_echo");
        opt.kill_on_parent_exit = true;
        opt.in = tether::stdio::pipe();
        opt.out = tether::stdio::pipe();
        c = tether::spawn(std::move(opt));
    }).join();
    // join() can return before the kernel's exit_notify (where PDEATHSIG is sent); the thread's
    // /proc entry goes only after it: wait for that, then prove the child still answers.
    std::string task = "/proc/self/task/" + std::to_string(tid);
    struct stat st {};
    auto end = std::chrono::steady_clock::now() + 10s;
    while (::stat(task.c_str(), &st) == 0 && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(1ms);  // a poll with a deadline
    ASSERT_NE(::stat(task.c_str(), &st), 0) << "the spawning thread did not go";
    auto in = c.take_stdin();
    auto out = c.take_stdout();
    tether::write_all(in, "ping\n");
    EXPECT_EQ(read_line_for(out, 10s), "ping");
    in.reset();
    EXPECT_TRUE(c.wait().success());
}

TEST(DetachedPosix, IsReparentedInItsOwnSessionWithNullStdio) {
    auto report = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("life_detached_inside");
    opt.detached = true;
    opt.pass(std::move(report.theirs), "report");
    auto c = tether::spawn(std::move(opt));
    std::string line = read_line_for(report.ours, 30s);
    auto ids = numbers(line);
    ASSERT_GE(ids.size(), 3U) << line;
    EXPECT_EQ(ids[0], c.pid());
    EXPECT_NE(ids[1], ::getpid()) << "not our child, never our zombie";
    EXPECT_NE(ids[2], ::getsid(0)) << "a session of its own";
    EXPECT_TRUE(contains(line, "/dev/null /dev/null /dev/null")) << line;
}

TEST(DetachedPosix, AnExecFailureOfTheDetachedChildIsReported) {
    for (bool fork_path : {false, true}) {
        tether::detail::test_hooks::force_fork_path(fork_path);
        tether::spawn_options opt;
        opt.argv = {"/nonexistent/tether-no-such-program"};
        opt.detached = true;
        std::error_code ec;
        std::string message;
        auto c = tether::spawn(std::move(opt), ec, message);
        tether::detail::test_hooks::force_fork_path(false);
        EXPECT_FALSE(c);
        EXPECT_EQ(ec, std::errc::no_such_file_or_directory) << ec.message() << " fork path " << fork_path;
        EXPECT_TRUE(contains(message, "tether-no-such-program")) << message;
    }
}

TEST(DetachedPosix, WithANewSessionLeadsItsOwnSession) {
    // Documented as accepted: detached with group = new_session gives a child that leads a new
    // session of its own (getsid == its pid), not our session nor the intermediate child's.
    for (bool fork_path : {false, true}) {
        SCOPED_TRACE(fork_path ? "fork path" : "clone(CLONE_VM | CLONE_VFORK) path");
        tether::detail::test_hooks::force_fork_path(fork_path);
        auto report = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("life_detached_inside");
        opt.detached = true;
        opt.group = tether::process_group::new_session;
        opt.pass(std::move(report.theirs), "report");
        std::error_code ec;
        std::string message;
        auto c = tether::spawn(std::move(opt), ec, message);
        tether::detail::test_hooks::force_fork_path(false);
        ASSERT_FALSE(ec) << message << ": " << ec.message();
        report.theirs.reset();
        std::string line = read_line_for(report.ours, 30s);
        auto ids = numbers(line);
        ASSERT_GE(ids.size(), 3U) << line;
        EXPECT_EQ(ids[0], c.pid());
        EXPECT_NE(ids[1], ::getpid()) << "not our child, never our zombie";
        EXPECT_EQ(ids[2], ids[0]) << "the detached child leads its own session";
    }
}

// Starts life_block with a group of its own (so in a cgroup), prints "<its id> <its cgroup,
// relative to the cgroup2 mount>", then waits to be killed. Not kill_on_parent_exit: the
// watcher would then remove the cgroup itself (parent_watch.cpp); this is what a new start
// finds when nothing did.
TETHER_CHILD_ROLE(life_cgroup_owner) {
    auto opt = tether_test::role_options("life_block");
    opt.group = tether::process_group::new_group;
    auto c = tether::spawn(std::move(opt));
    std::ifstream f("/proc/" + std::to_string(c.pid()) + "/cgroup");
    std::string line, rel;
    while (std::getline(f, line))
        if (line.rfind("0::", 0) == 0) rel = line.substr(3);
    std::cout << c.pid() << " " << rel << "\n" << std::flush;
    for (;;) ::pause();
}

// A new start of a program that uses a group: one spawn with a cgroup.
TETHER_CHILD_ROLE(life_cgroup_new_start) {
    tether::spawn_options opt;
    opt.argv = {"/bin/true"};
    opt.group = tether::process_group::new_group;
    return tether::spawn(std::move(opt)).wait().success() ? 0 : 1;
}

namespace {
// Where cgroup2 is mounted (its root), from /proc/self/mountinfo.
std::string cgroup2_mount() {
    std::ifstream mounts("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mounts, line)) {
        auto dash = line.find(" - ");
        if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
        std::istringstream f(line.substr(0, dash));
        std::string id, parent, dev, root, point;
        f >> id >> parent >> dev >> root >> point;
        return point;
    }
    return "";
}
}  // namespace

TEST(ProcessTreePosix, AKilledOwnersEmptyCgroupIsReclaimedByTheNextStart) {
    // A supervisor killed while its children had cgroups leaves them behind; over its restarts
    // they would pile up. The next start removes the empty ones whose owner is gone.
    std::string why = cgroup_reason();
    if (!why.empty()) GTEST_SKIP() << "no per-child cgroup here: " << why;
    auto opt = tether_test::role_options("life_cgroup_owner");
    opt.out = tether::stdio::pipe();
    auto owner = tether::spawn(std::move(opt));
    std::istringstream in(read_line_for(owner.take_stdout(), 30s));
    std::int64_t grandchild = -1;
    std::string rel;
    in >> grandchild >> rel;
    ASSERT_TRUE(contains(rel, "/tether-")) << rel;
    std::string dir = cgroup2_mount() + rel;
    owner.kill();
    owner.wait();
    ::kill(static_cast<pid_t>(grandchild), SIGKILL);  // re-parented, not ours: init reaps it
    ASSERT_TRUE(ended_within(grandchild, 10s)) << "SIGKILL did not end it";
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0) << dir << ": the killed owner's cgroup should still be there";
    EXPECT_TRUE(tether::spawn(tether_test::role_options("life_cgroup_new_start")).wait().success());
    EXPECT_NE(::stat(dir.c_str(), &st), 0) << dir << " outlived its owner and the next start";
    if (::stat(dir.c_str(), &st) == 0) ::rmdir(dir.c_str());  // cleanup after a failure
}

// The process that goes on in another program: starts life_echo with kill_on_parent_exit from
// its main thread, then execve()s itself into life_after_exec with the echo's id and our ends
// of its pipes (kept open across exec).
TETHER_CHILD_ROLE(life_exec_parent) {
    auto opt = tether_test::role_options("life_echo");
    opt.kill_on_parent_exit = true;
    opt.in = tether::stdio::pipe();
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto in = c.take_stdin();
    auto out = c.take_stdout();
    if (::fcntl(in.get(), F_SETFD, 0) != 0 || ::fcntl(out.get(), F_SETFD, 0) != 0) return 2;
    std::string exe = tether::current_executable_path();
    std::string pid = std::to_string(c.pid()), in_fd = std::to_string(in.get()), out_fd = std::to_string(out.get());
    ::execl(exe.c_str(), exe.c_str(), "--role", "life_after_exec", pid.c_str(), in_fd.c_str(), out_fd.c_str(),
            static_cast<char*>(nullptr));
    return 3;
}

// After the execve: the echo answers (a SIGKILL from the exec would have been sent before exec
// returned, and a killed process reads nothing), then ends at end-of-file and is reaped here.
TETHER_CHILD_ROLE(life_after_exec) {
    auto pid = static_cast<pid_t>(std::stol(args.at(0)));
    tether::unique_handle in(std::stoi(args.at(1))), out(std::stoi(args.at(2)));
    std::string answer;
    try {
        tether::write_all(in, "ping\n");  // EPIPE if the echo is gone
        answer = read_line_for(out, 10s);
    } catch (const std::system_error& e) {
        answer = e.what();
    }
    in.reset();
    int status = 0;
    pid_t r = ::waitpid(pid, &status, 0);
    std::cout << (answer == "ping" ? "alive" : "killed") << " "
              << (r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "exited 0" : "did not exit 0") << "\n";
    return 0;
}

TEST(KillOnParentExitPosix, AnExecveOfTheMainThreadDoesNotKillTheChild) {
    // execve replaces the program, not the process: a child tied to "when this process ends"
    // must live on with the new program (and is still its child).
    EXPECT_EQ(tether_test::output_of(tether_test::role_options("life_exec_parent")), "alive exited 0\n");
}
