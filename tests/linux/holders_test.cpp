// tether::holders() with real processes: a grandchild that keeps the write end, a parent that
// forgot its local copy, a clean pipe, relations (child, parent, left behind), Unix sockets,
// processes that may not be inspected, and every error path.
#include "support/harness.hpp"
#include "support/holders_support.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <iostream>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using tether_test::contains;
using tether_test::error_of;
using tether_test::held_pipe;
using tether_test::only_object;
using tether_test::start_holder;

TEST(Holders, GrandchildThatKeepsTheWriteEndIsNamed) {
    held_pipe h = start_holder("holders_middle");
    ASSERT_GT(h.holder_pid, 0);
    auto o = only_object(tether::holders(tether::this_process_id(), h.read.get()));
    EXPECT_EQ(o.kind, tether::object_kind::pipe);
    EXPECT_EQ(o.end, tether::object_end::read);
    ASSERT_EQ(o.others.size(), 1u);
    const tether::holder& g = o.others[0];
    EXPECT_EQ(g.pid, h.holder_pid);
    EXPECT_EQ(g.rel, tether::relation::descendant);
    EXPECT_EQ(g.generations, 2);
    EXPECT_EQ(g.end, tether::object_end::write);
    EXPECT_EQ(g.handle, 3);  // the first passed handle
    EXPECT_TRUE(contains(g.command, "holders_hold")) << g.command;
    EXPECT_TRUE(contains(o.verdict, "end-of-file will not arrive while the write end is also held by PID " +
                                        std::to_string(h.holder_pid)))
        << o.verdict;
    EXPECT_TRUE(contains(o.verdict, "(fd 3), a grandchild")) << o.verdict;

    h.release.reset();
    EXPECT_TRUE(h.proc.wait().success());
    o = only_object(tether::holders(tether::this_process_id(), h.read.get()));
    EXPECT_TRUE(o.others.empty());
    EXPECT_TRUE(contains(o.verdict, "no copy of the write end is open")) << o.verdict;
}

TEST(Holders, ChildIsAChildAndSeesUsAsItsParent) {
    held_pipe h = start_holder("holders_hold");
    ASSERT_EQ(h.holder_pid, h.proc.pid());
    auto o = only_object(tether::holders(tether::this_process_id(), h.read.get()));
    ASSERT_EQ(o.others.size(), 1u);
    EXPECT_EQ(o.others[0].rel, tether::relation::child);
    EXPECT_EQ(o.others[0].generations, 1);
    EXPECT_TRUE(contains(o.verdict, "a child")) << o.verdict;

    // The other way round: inspecting the child, we are its parent holding the read end.
    auto theirs = only_object(tether::holders(h.proc.pid(), 3));
    EXPECT_EQ(theirs.end, tether::object_end::write);
    EXPECT_EQ(theirs.object_id, o.object_id);
    ASSERT_EQ(theirs.others.size(), 1u);
    EXPECT_EQ(theirs.others[0].pid, tether::this_process_id());
    EXPECT_EQ(theirs.others[0].rel, tether::relation::parent);
    EXPECT_EQ(theirs.others[0].end, tether::object_end::read);
    EXPECT_EQ(theirs.others[0].handle, h.read.get());
    h.release.reset();
    EXPECT_TRUE(h.proc.wait().success());
}

TEST(Holders, OrphanedGrandchildIsNamedAsLeftBehind) {
    held_pipe h = start_holder("holders_orphaner");
    EXPECT_TRUE(h.proc.wait().success());  // its parent is gone: it was re-parented
    auto o = only_object(tether::holders(tether::this_process_id(), h.read.get()));
    ASSERT_EQ(o.others.size(), 1u);
    EXPECT_EQ(o.others[0].pid, h.holder_pid);
    EXPECT_EQ(o.others[0].rel, tether::relation::left_behind);
    EXPECT_FALSE(contains(o.verdict, "unrelated")) << o.verdict;
    EXPECT_TRUE(contains(o.verdict, "probably left behind by a descendant")) << o.verdict;
    h.release.reset();
}

// The common case: `sh -c 'sleep 100 &'` with the write end; the shell exits at
// once and the background job keeps the pipe open, re-parented away from us.
TEST(Holders, BackgroundJobOfAShellThatExitedIsLeftBehindNotUnrelated) {
    auto [r, w] = tether::make_pipe();
    tether::spawn_options opt;
    opt.argv = {"/bin/sh", "-c", "exec 0</dev/null; sleep 100 &"};
    opt.pass_at(3, std::move(w), "w");
    auto shell = tether::spawn(std::move(opt));
    auto status = shell.wait_for(20s);  // the deadline: the shell exits as soon as it forked
    ASSERT_TRUE(status.has_value()) << "the shell did not exit";
    EXPECT_TRUE(status->success());
    // The shell may exit before its background child has exec'd sleep (until then the job's
    // command line is still the shell's, which contains "sleep 100" too): poll, with a
    // deadline, until the command line starts with it.
    auto execed = [](const tether::held_object& obj) {
        return obj.others.size() == 1 && obj.others[0].command.rfind("sleep 100", 0) == 0;
    };
    auto o = only_object(tether::holders(tether::this_process_id(), r.get()));
    for (auto end = std::chrono::steady_clock::now() + 20s;
         o.others.size() == 1 && !execed(o) && std::chrono::steady_clock::now() < end;) {
        std::this_thread::sleep_for(1ms);  // a poll with a deadline
        o = only_object(tether::holders(tether::this_process_id(), r.get()));
    }
    ASSERT_EQ(o.others.size(), 1u) << tether::describe(tether::holders(tether::this_process_id(), r.get()));
    const tether::holder& job = o.others[0];
    EXPECT_EQ(job.command.rfind("sleep 100", 0), 0u) << job.command;
    EXPECT_EQ(job.handle, 3);
    EXPECT_EQ(job.rel, tether::relation::left_behind);
    EXPECT_FALSE(contains(o.verdict, "unrelated")) << o.verdict;
    EXPECT_TRUE(contains(o.verdict, "`sleep 100` (fd 3), probably left behind by a descendant")) << o.verdict;
    EXPECT_TRUE(contains(tether::describe(tether::holders(tether::this_process_id(), r.get())), "left_behind"));
    ASSERT_EQ(::kill(static_cast<pid_t>(job.pid), SIGKILL), 0);
    std::error_code ec;
    (void)tether::read_to_end_for(r, 20s, ec);  // end-of-file once the job is gone
    EXPECT_FALSE(ec) << ec.message();
}

TETHER_CHILD_ROLE(holders_write_and_exit) {
    tether::write_all(tether::inherited("w"), std::string_view("hello"));
    return 0;
}

TEST(Holders, ParentThatForgotItsLocalCopyIsTold) {
    auto [r, w] = tether::make_pipe();
    auto opt = tether_test::role_options("holders_write_and_exit");
    opt.pass(w.duplicate(), "w");  // what fork/CreateProcess do: the child gets a copy, ours stays
    auto c = tether::spawn(std::move(opt));
    EXPECT_TRUE(c.wait().success());

    std::error_code ec;
    std::string text = tether::read_to_end_for(r, 300ms, ec);  // bounded: it must not end
    EXPECT_EQ(text, "hello");
    EXPECT_EQ(ec, tether::errc::timed_out);

    auto o = only_object(tether::holders(tether::this_process_id(), r.get()));
    ASSERT_EQ(o.others.size(), 1u);
    EXPECT_EQ(o.others[0].rel, tether::relation::self);
    EXPECT_EQ(o.others[0].handle, w.get());
    EXPECT_EQ(o.verdict, "fd " + std::to_string(r.get()) + " (read end of pipe " + std::to_string(o.object_id) +
                             "): end-of-file will not arrive while the write end is also held by this "
                             "process itself (fd " + std::to_string(w.get()) +
                             "): close your local copy of the client handle");

    w.reset();
    text = tether::read_to_end_for(r, 20s, ec);
    EXPECT_FALSE(ec) << ec.message();
}

TEST(Holders, CleanPipeHasNoOtherHolders) {
    auto [r, w] = tether::make_pipe();
    auto o = only_object(tether::holders(tether::this_process_id(), w.get()));
    ASSERT_EQ(o.others.size(), 1u);  // the read end, ours
    EXPECT_EQ(o.others[0].end, tether::object_end::read);
    EXPECT_TRUE(o.verdict.empty()) << o.verdict;  // a writer with a reader: nothing to say

    w.reset();
    o = only_object(tether::holders(tether::this_process_id(), r.get()));
    EXPECT_TRUE(o.others.empty());
    EXPECT_TRUE(contains(o.verdict, "no copy of the write end is open: end-of-file arrives")) << o.verdict;
}

TEST(Holders, WriteEndWithoutReaderSaysPeerGone) {
    auto [r, w] = tether::make_pipe();
    r.reset();
    auto o = only_object(tether::holders(tether::this_process_id(), w.get()));
    EXPECT_EQ(o.end, tether::object_end::write);
    EXPECT_TRUE(contains(o.verdict, "no copy of the read end is open: a write fails with peer_gone")) << o.verdict;
}

TEST(Holders, WholeProcessListsEveryPipeAndUnixSocketOrderedByFd) {
    auto [r, w] = tether::make_pipe();
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    tether::unique_handle s0(sv[0]), s1(sv[1]);
    tether::unique_handle s0_copy = s0.duplicate();
    auto rep = tether::holders(tether::this_process_id());
    EXPECT_EQ(rep.pid, tether::this_process_id());
    EXPECT_TRUE(contains(rep.command, "tether_tests")) << rep.command;
    EXPECT_TRUE(std::is_sorted(rep.objects.begin(), rep.objects.end(),
                               [](const auto& a, const auto& b) { return a.handle < b.handle; }));
    auto find = [&](int fd) {
        auto it = std::find_if(rep.objects.begin(), rep.objects.end(), [&](const auto& o) { return o.handle == fd; });
        return it == rep.objects.end() ? nullptr : &*it;
    };
    ASSERT_NE(find(r.get()), nullptr);
    ASSERT_NE(find(w.get()), nullptr);
    const auto* sock = find(s0.get());
    ASSERT_NE(sock, nullptr);
    EXPECT_EQ(sock->kind, tether::object_kind::unix_socket);
    EXPECT_EQ(sock->end, tether::object_end::both);
    // The duplicate is the same object and end: grouped into fds; the peer s1 is another object.
    EXPECT_EQ(sock->handles, (std::vector<std::int64_t>{std::min(s0.get(), s0_copy.get()), std::max(s0.get(), s0_copy.get())}));
    EXPECT_TRUE(sock->others.empty());
    EXPECT_NE(find(s1.get())->object_id, sock->object_id);
    EXPECT_EQ(sock->peer_object_id, find(s1.get())->object_id);
    ASSERT_EQ(sock->peer_holders.size(), 1u);
    EXPECT_EQ(sock->peer_holders[0].handle, s1.get());
    EXPECT_EQ(sock->peer_holders[0].rel, tether::relation::self);
    EXPECT_TRUE(contains(sock->verdict, "end-of-file will not arrive while the peer socket " +
                                            std::to_string(sock->peer_object_id) + " is held by this process itself (fd " +
                                            std::to_string(s1.get()) + ")"))
        << sock->verdict;
    EXPECT_TRUE(contains(tether::describe(rep), "socket:[" + std::to_string(sock->object_id) + "]"));
}

TEST(Holders, SocketPeerHeldByAChildIsNamedThenSeenClosed) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    held_pipe h = start_holder("holders_hold", tether::unique_handle(sv[0]), tether::unique_handle(sv[1]));
    auto o = only_object(tether::holders(tether::this_process_id(), h.read.get()));
    EXPECT_EQ(o.kind, tether::object_kind::unix_socket);
    EXPECT_TRUE(o.others.empty());
    ASSERT_NE(o.peer_object_id, 0u);
    ASSERT_EQ(o.peer_holders.size(), 1u);
    EXPECT_EQ(o.peer_holders[0].pid, h.holder_pid);
    EXPECT_EQ(o.peer_holders[0].handle, 3);
    EXPECT_EQ(o.peer_holders[0].rel, tether::relation::child);
    EXPECT_TRUE(contains(o.verdict, "is held by PID " + std::to_string(h.holder_pid))) << o.verdict;
    EXPECT_FALSE(o.read_shut_down);

    h.release.reset();
    EXPECT_TRUE(h.proc.wait().success());
    o = only_object(tether::holders(tether::this_process_id(), h.read.get()));
    EXPECT_TRUE(o.peer_holders.empty());
    EXPECT_TRUE(o.read_shut_down);
    EXPECT_TRUE(contains(o.verdict, "the peer socket is closed or shut down: end-of-file arrives")) << o.verdict;
}

TEST(Holders, ProcessThatDoesNotExistIsAnError) {
    for (std::int64_t pid : {std::int64_t{2147483647}, std::int64_t{0}, std::int64_t{-4}}) {
        auto e = error_of([&] { (void)tether::holders(pid); });
        EXPECT_EQ(e.code(), std::errc::no_such_process);
        EXPECT_TRUE(contains(e.what(), "no process with id " + std::to_string(pid))) << e.what();
    }
    auto e = error_of([] { (void)tether::holders(2147483647, 3); });
    EXPECT_EQ(e.code(), std::errc::no_such_process);
}

TEST(Holders, DescriptorThatIsNotOpenIsAnError) {
    auto self = tether::this_process_id();
    for (int fd : {9999, -1}) {
        auto e = error_of([&] { (void)tether::holders(self, fd); });
        EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
        EXPECT_TRUE(contains(e.what(), std::to_string(fd))) << e.what();
    }
}

TEST(Holders, DescriptorThatIsNotAPipeOrUnixSocketIsAnError) {
    tether::unique_handle null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(null);
    auto e = error_of([&] { (void)tether::holders(tether::this_process_id(), null.get()); });
    EXPECT_EQ(e.code(), tether::errc::not_a_pipe);
    EXPECT_TRUE(contains(e.what(), "is /dev/null, not a pipe, a Unix socket or a terminal")) << e.what();

    tether::unique_handle udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(udp);
    e = error_of([&] { (void)tether::holders(tether::this_process_id(), udp.get()); });
    EXPECT_EQ(e.code(), tether::errc::not_a_pipe);
    EXPECT_TRUE(contains(e.what(), "socket:[")) << e.what();
}

// Drops to uid/gid 65534 (nobody), then inspects its own read end and its root parent.
// Prints what it found, one "key=value" a line, for the test to check.
TETHER_CHILD_ROLE(holders_as_nobody) {
    auto r = tether::inherited("r");
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
        std::cout << "setuid_failed=1\n";
        return 0;
    }
    ::prctl(PR_SET_DUMPABLE, 1);  // changing uid cleared it; our own /proc entries stay ours
    auto rep = tether::holders(tether::this_process_id(), r.get());
    bool parent_listed = std::any_of(rep.not_inspected.begin(), rep.not_inspected.end(),
                                     [](const auto& p) { return p.pid == ::getppid(); });
    std::cout << "parent_listed=" << parent_listed << "\nothers=" << rep.objects.at(0).others.size()
              << "\nverdict=" << rep.objects.at(0).verdict << "\n";
    try {
        (void)tether::holders(::getppid());
    } catch (const std::system_error& e) {
        std::cout << "parent_error=" << (e.code() == std::errc::permission_denied) << "\nmessage=" << e.what() << "\n";
    }
    std::cout << "text=" << (contains(tether::describe(rep), "Not inspected (permission denied): ") ? 1 : 0) << "\n";
    return 0;
}

TEST(Holders, ProcessesThatMayNotBeInspectedAreCountedAndNamed) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root: the test runs an inspector as uid 65534 next to a root holder";
    auto [r, w] = tether::make_pipe();  // we (root) keep the write end: invisible to nobody
    auto opt = tether_test::role_options("holders_as_nobody");
    opt.pass(std::move(r), "r");
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    std::string out = tether::take_stdout_text(c);
    ASSERT_TRUE(c.wait().success()) << out;
    if (contains(out, "setuid_failed=1")) GTEST_SKIP() << "setresuid(65534) is not permitted here";
    EXPECT_TRUE(contains(out, "parent_listed=1\n")) << out;
    EXPECT_TRUE(contains(out, "others=0\n")) << out;
    EXPECT_TRUE(contains(out, "could not be inspected and may hold it too")) << out;
    EXPECT_TRUE(contains(out, "parent_error=1\n")) << out;
    EXPECT_TRUE(contains(out, "may not read the descriptors of process " + std::to_string(tether::this_process_id())))
        << out;
    EXPECT_TRUE(contains(out, "text=1\n")) << out;
}

TEST(Holders, DescribeIsAlignedAndCarriesTheVerdict) {
    auto [r, w] = tether::make_pipe();
    auto text = tether::describe(tether::holders(tether::this_process_id(), r.get()));
    EXPECT_TRUE(contains(text, "FD OBJECT")) << text;
    EXPECT_TRUE(contains(text, "self")) << text;
    EXPECT_TRUE(contains(text, "close your local copy of the client handle")) << text;
    // Every table line has its '|' separator in the same column.
    std::size_t column = std::string::npos;
    std::size_t pos = 0;
    while ((pos = text.find('\n', pos)) != std::string::npos) {
        std::size_t next = text.find('\n', pos + 1);
        std::string line = text.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
        pos = pos + 1;
        auto bar = line.find(" | ");
        if (bar == std::string::npos) continue;
        if (column == std::string::npos) column = bar;
        EXPECT_EQ(bar, column) << text;
    }
    EXPECT_NE(column, std::string::npos) << text;
}

TEST(Holders, RelationWords) {
    using tether::relation;
    EXPECT_EQ(tether::describe_relation(relation::self, 0), "this process itself");
    EXPECT_EQ(tether::describe_relation(relation::child, 1), "a child");
    EXPECT_EQ(tether::describe_relation(relation::descendant, 2), "a grandchild");
    EXPECT_EQ(tether::describe_relation(relation::descendant, 3), "a great-grandchild");
    EXPECT_EQ(tether::describe_relation(relation::descendant, 5), "a descendant (5 generations down)");
    EXPECT_EQ(tether::describe_relation(relation::parent, 1), "the parent");
    EXPECT_EQ(tether::to_string(relation::left_behind), std::string("left_behind"));
    EXPECT_TRUE(contains(tether::describe_relation(relation::left_behind, 0), "probably left behind by a descendant"));
    EXPECT_EQ(tether::describe_relation(relation::ancestor, 2), "the grandparent");
    EXPECT_EQ(tether::describe_relation(relation::ancestor, 4), "an ancestor (4 generations up)");
    EXPECT_EQ(tether::describe_relation(relation::unrelated, 0), "an unrelated process");
}
