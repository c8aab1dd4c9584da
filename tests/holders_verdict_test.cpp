// The words of holders, without processes: table tests of the verdict (portable code).
#include <tether/holders.hpp>

#include "detail/holders.hpp"
#include "detail/holders_parse.hpp"

#include <gtest/gtest.h>

namespace {

using tether::object_end;
using tether::relation;

tether::held_object read_end(std::vector<tether::holder> others) {
    tether::held_object o;
    o.handle = 5;
    o.kind = tether::object_kind::pipe;
    o.object_id = 81234;
    o.end = object_end::read;
    o.others = std::move(others);
    return o;
}

}  // namespace

TEST(HoldersVerdict, GrandchildWriterIsNamedWithItsCommand) {
    auto o = read_end({{4242, "sleep 100", 1, object_end::write, relation::descendant, 2}});
    EXPECT_EQ(tether::detail::holders_verdict(o, 0),
              "fd 5 (read end of pipe 81234): end-of-file will not arrive while the write end is also "
              "held by PID 4242 `sleep 100` (fd 1), a grandchild");
}

TEST(HoldersVerdict, CopiesAreGroupedByProcessAndThisProcessComesFirst) {
    auto o = read_end({{7, "worker --x", 1, object_end::write, relation::child, 1},
                       {7, "worker --x", 4, object_end::write, relation::child, 1},
                       {9, "me", 6, object_end::write, relation::self, 0},
                       {9, "me", 8, object_end::write, relation::self, 0},
                       {9, "me", 3, object_end::read, relation::self, 0}});
    EXPECT_EQ(tether::detail::holders_verdict(o, 0),
              "fd 5 (read end of pipe 81234): end-of-file will not arrive while the write end is also "
              "held by this process itself (fds 6 and 8): close your local copy of the client handle; "
              "and by PID 7 `worker --x` (fds 1 and 4), a child");
}

TEST(HoldersVerdict, NoWriterSaysEndOfFileArrivesAndWarnsAboutUninspected) {
    auto o = read_end({{9, "me", 3, object_end::read, relation::self, 0}});
    EXPECT_EQ(tether::detail::holders_verdict(o, 0),
              "fd 5 (read end of pipe 81234): no copy of the write end is open: end-of-file arrives "
              "once the pipe is empty");
    EXPECT_EQ(tether::detail::holders_verdict(o, 2),
              "fd 5 (read end of pipe 81234): no copy of the write end is open: end-of-file arrives "
              "once the pipe is empty (but 2 processes could not be inspected and may hold it too)");
}

TEST(HoldersVerdict, ReadWritePipeAndSockets) {
    auto o = read_end({});
    o.end = object_end::both;
    EXPECT_EQ(tether::detail::holders_verdict(o, 0),
              "fd 5 (pipe 81234, opened read-write): it holds the write end itself, so end-of-file "
              "never arrives on it");
}

TEST(HoldersVerdict, SocketsDependOnTheirPeer) {
    auto o = read_end({});
    o.kind = tether::object_kind::unix_socket;
    o.end = object_end::both;
    EXPECT_EQ(tether::detail::holders_verdict(o, 0), "");  // unconnected, e.g. listening
    o.read_shut_down = true;
    EXPECT_EQ(tether::detail::holders_verdict(o, 0),
              "fd 5 (socket 81234): the peer socket is closed or shut down: end-of-file arrives once "
              "the data is read");
    o.read_shut_down = false;
    o.peer_object_id = 81235;
    EXPECT_EQ(tether::detail::holders_verdict(o, 1),
              "fd 5 (socket 81234): no descriptor of the peer socket 81235 was found (but 1 process "
              "could not be inspected and may hold it too)");
    o.peer_holders = {{9, "me", 4, object_end::both, relation::self, 0},
                      {12, "worker", 3, object_end::both, relation::child, 1}};
    EXPECT_EQ(tether::detail::holders_verdict(o, 0),
              "fd 5 (socket 81234): end-of-file will not arrive while the peer socket 81235 is held by "
              "this process itself (fd 4): close your local copy of the client handle; and by PID 12 "
              "`worker` (fd 3), a child");
}

TEST(HoldersVerdict, LongAndMultiLineCommandsAreShortenedInSentences) {
    std::string cmd = "python3 -c\nprint(1)" + std::string(100, 'x');
    auto o = read_end({{4242, cmd, 1, object_end::write, relation::unrelated, 0}});
    auto v = tether::detail::holders_verdict(o, 0);
    EXPECT_NE(v.find("`python3 -c print(1)xxx"), std::string::npos) << v;
    EXPECT_NE(v.find("...` (fd 1), an unrelated process"), std::string::npos) << v;
}

TEST(HoldersVerdict, FinishSortsAndFillsVerdicts) {
    tether::holders_report rep;
    rep.objects = {read_end({{9, "b", 2, object_end::write, relation::unrelated, 0},
                             {3, "a", 7, object_end::write, relation::unrelated, 0}}),
                   read_end({})};
    rep.objects[1].handle = 1;
    rep.not_inspected = {{50, "x"}, {2, "y"}};
    tether::detail::finish_holders_report(rep);
    EXPECT_EQ(rep.objects[0].handle, 1);
    EXPECT_EQ(rep.objects[1].others[0].pid, 3);
    EXPECT_EQ(rep.not_inspected[0].pid, 2);
    EXPECT_NE(rep.objects[0].verdict.find("(but 2 processes could not be inspected"), std::string::npos);
    EXPECT_NE(tether::describe(rep).find("Not inspected (permission denied): 2 processes: 2 (y), 50 (x)"),
              std::string::npos)
        << tether::describe(rep);
}

TEST(HoldersVerdict, StatFieldsAreCountedAfterTheLastParenthesis) {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    // stime cutime cstime priority nice num_threads itrealvalue starttime ...
    auto f = tether::detail::parse_stat_fields(
        "4242 (a) b) (c) S 1 4100 4000 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 987654 8192 100");
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->parent, 1);
    EXPECT_EQ(f->process_group, 4100);
    EXPECT_EQ(f->session, 4000);
    EXPECT_EQ(f->start_time, 987654u);
    EXPECT_FALSE(tether::detail::parse_stat_fields("4242 (a) S 1 4100 4000").has_value()) << "too short";
}
