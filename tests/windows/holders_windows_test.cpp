// Windows: tether::holders() with real processes under the system handle table: a grandchild
// that keeps the write end, a forgotten local copy, a clean pipe, a process we may not open, and
// the error paths. tether's pipes are named pipes on Windows: kind named_pipe, both ends sharing
// one name, each end its own kernel object.
#include "support/harness.hpp"
#include "support/holders_support.hpp"

#include <tether/tether.hpp>

#include "detail/holders.hpp"
#include "testing/test_hooks.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <system_error>

#include <windows.h>

using namespace std::chrono_literals;
using tether_test::contains;
using tether_test::error_of;
using tether_test::held_pipe;
using tether_test::only_object;
using tether_test::start_holder;

namespace {

std::int64_t value(const tether::unique_handle& h) { return tether::handle_to_integer(h.get()); }

std::string hex(std::int64_t v) { return tether::detail::handle_text(tether::object_kind::named_pipe, v); }

}  // namespace

TETHER_CHILD_ROLE(holders_win_write_and_exit) {
    tether::write_all(tether::inherited("w"), std::string_view("hello"));
    return 0;
}

namespace {

std::vector<tether::holder> writers(const tether::held_object& o) {
    std::vector<tether::holder> out;
    for (const auto& h : o.others)
        if (h.end != tether::object_end::read) out.push_back(h);
    return out;
}


}  // namespace

TEST(HoldersWindows, GrandchildThatKeepsTheWriteEndIsNamed) {
    held_pipe h = start_holder("holders_middle");
    ASSERT_GT(h.holder_pid, 0);
    auto o = only_object(tether::holders(tether::this_process_id(), value(h.read)));
    EXPECT_EQ(o.kind, tether::object_kind::named_pipe);
    EXPECT_EQ(o.end, tether::object_end::read);
    EXPECT_FALSE(o.name.empty()) << "the pipe's name (NtQueryObject) is how the other end is found";
    auto w = writers(o);
    ASSERT_EQ(w.size(), 1u) << tether::describe(tether::holders(tether::this_process_id(), value(h.read)));
    EXPECT_EQ(w[0].pid, h.holder_pid);
    EXPECT_EQ(w[0].end, tether::object_end::write);
    EXPECT_EQ(w[0].rel, tether::relation::descendant);
    EXPECT_EQ(w[0].generations, 2);
    EXPECT_TRUE(contains(w[0].command, "holders_hold")) << "the command line, from the PEB under wine";
    std::cout << "holder's command as Windows tells it: " << w[0].command << "\n";
    EXPECT_TRUE(contains(o.verdict, "end-of-file (ERROR_BROKEN_PIPE) will not arrive while the write end is also held by PID " +
                                        std::to_string(h.holder_pid)))
        << o.verdict;
    EXPECT_TRUE(contains(o.verdict, "(handle " + hex(w[0].handle) + "), a grandchild")) << o.verdict;

    // Seen from the grandchild: it holds the write end, and this process (its grandparent) the read end.
    auto theirs = only_object(tether::holders(h.holder_pid, w[0].handle));
    EXPECT_EQ(theirs.end, tether::object_end::write);
    EXPECT_EQ(theirs.name, o.name);
    auto self = std::find_if(theirs.others.begin(), theirs.others.end(),
                             [](const tether::holder& x) { return x.pid == tether::this_process_id(); });
    ASSERT_NE(self, theirs.others.end());
    EXPECT_EQ(self->rel, tether::relation::ancestor);
    EXPECT_EQ(self->end, tether::object_end::read);
    EXPECT_EQ(self->handle, value(h.read));

    h.release.reset();
    EXPECT_TRUE(h.proc.wait().success());
    o = only_object(tether::holders(tether::this_process_id(), value(h.read)));
    EXPECT_TRUE(writers(o).empty());
    EXPECT_TRUE(contains(o.verdict, "no handle of the write end is open: ReadFile fails with ERROR_BROKEN_PIPE")) << o.verdict;
}

TEST(HoldersWindows, ParentThatForgotItsLocalCopyIsTold) {
    auto [r, w] = tether::make_pipe();
    auto opt = tether_test::role_options("holders_win_write_and_exit");
    opt.pass(w.duplicate(), "w");  // the child gets a copy, ours stays: the .NET bug
    auto c = tether::spawn(std::move(opt));
    EXPECT_TRUE(c.wait().success());
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(r, 300ms, ec), "hello");
    EXPECT_EQ(ec, tether::errc::timed_out);

    auto o = only_object(tether::holders(tether::this_process_id(), value(r)));
    ASSERT_EQ(o.others.size(), 1u) << tether::describe(tether::holders(tether::this_process_id(), value(r)));
    EXPECT_EQ(o.others[0].rel, tether::relation::self);
    EXPECT_EQ(o.others[0].handle, value(w));
    EXPECT_EQ(o.verdict, "handle " + hex(value(r)) + " (read end of named pipe " + o.name +
                             "): end-of-file (ERROR_BROKEN_PIPE) will not arrive while the write end is also "
                             "held by this process itself (handle " + hex(value(w)) +
                             "): close your local copy of the client handle");
    w.reset();
    (void)tether::read_to_end_for(r, 20s, ec);
    EXPECT_FALSE(ec) << ec.message();
}

TEST(HoldersWindows, CleanPipeAndCopiesOfOneEnd) {
    auto [r, w] = tether::make_pipe();
    auto copy = w.duplicate();
    auto o = only_object(tether::holders(tether::this_process_id(), value(w)));
    EXPECT_EQ(o.end, tether::object_end::write);
    EXPECT_EQ(o.handles, (std::vector<std::int64_t>{std::min(value(w), value(copy)), std::max(value(w), value(copy))}))
        << "two handles of one end (CompareObjectHandles) are one object";
    ASSERT_EQ(o.others.size(), 1u);
    EXPECT_EQ(o.others[0].handle, value(r));
    EXPECT_EQ(o.others[0].end, tether::object_end::read);
    EXPECT_TRUE(o.verdict.empty()) << "a write end with a reader: nothing to say: " << o.verdict;

    // The whole process: both ends are listed, each naming the other as this process's.
    auto all = tether::holders(tether::this_process_id());
    auto find = [&](std::int64_t v) {
        return std::find_if(all.objects.begin(), all.objects.end(), [&](const tether::held_object& x) {
            return std::find(x.handles.begin(), x.handles.end(), v) != x.handles.end();
        });
    };
    ASSERT_NE(find(value(r)), all.objects.end());
    ASSERT_NE(find(value(w)), all.objects.end());
    EXPECT_EQ(find(value(r))->name, find(value(w))->name);
    EXPECT_NE(find(value(r))->object_id, find(value(w))->object_id) << "each end is its own object";
    EXPECT_TRUE(contains(tether::describe(all), "named pipe end")) << tether::describe(all);

    w.reset();
    copy.reset();
    o = only_object(tether::holders(tether::this_process_id(), value(r)));
    EXPECT_TRUE(o.others.empty());
    EXPECT_EQ(o.verdict, "handle " + hex(value(r)) + " (read end of named pipe " + o.name +
                             "): no handle of the write end is open: ReadFile fails with ERROR_BROKEN_PIPE "
                             "(end-of-file) once the pipe is empty");
}

TEST(HoldersWindows, ProcessThatMayNotBeOpenedIsCountedNotSkipped) {
    std::cout << "note: wine lets every process be opened with PROCESS_DUP_HANDLE; this test makes "
                 "OpenProcess of the child fail with ERROR_ACCESS_DENIED through a test hook (the "
                 "nearest thing to another user's or a protected process on real Windows)\n";
    held_pipe h = start_holder("holders_hold");
    ASSERT_GT(h.holder_pid, 0);
    tether::detail::test_hooks::holders_refuse_open(h.holder_pid);
    auto rep = tether::holders(tether::this_process_id(), value(h.read));
    auto e = error_of([&] { (void)tether::holders(h.holder_pid); });
    tether::detail::test_hooks::holders_refuse_open(0);
    auto o = only_object(rep);
    EXPECT_TRUE(writers(o).empty()) << "its handle cannot be seen";
    ASSERT_EQ(rep.not_inspected.size(), 1u);
    EXPECT_EQ(rep.not_inspected[0].pid, h.holder_pid);
    EXPECT_FALSE(rep.not_inspected[0].name.empty());
    EXPECT_TRUE(contains(o.verdict, "(but 1 process could not be inspected and may hold it too)")) << o.verdict;
    EXPECT_TRUE(contains(tether::describe(rep), "Not inspected (permission denied): 1 process: " +
                                                    std::to_string(h.holder_pid)))
        << tether::describe(rep);
    EXPECT_EQ(e.code(), std::errc::permission_denied);
    EXPECT_TRUE(contains(e.what(), std::to_string(h.holder_pid))) << e.what();

    // Allowed again, the same holder is found.
    EXPECT_EQ(writers(only_object(tether::holders(tether::this_process_id(), value(h.read)))).size(), 1u);
    h.release.reset();
    EXPECT_TRUE(h.proc.wait().success());
}

TEST(HoldersWindows, BadTargetsAreErrorsThatNameThem) {
    auto self = tether::this_process_id();
    auto e = error_of([&] { (void)tether::holders(self, 0x7ffffff0); });
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
    EXPECT_TRUE(contains(e.what(), "0x7ffffff0")) << e.what();

    tether::unique_handle event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    ASSERT_TRUE(event);
    e = error_of([&] { (void)tether::holders(self, value(event)); });
    EXPECT_EQ(e.code(), tether::errc::not_a_pipe);
    EXPECT_TRUE(contains(e.what(), hex(value(event)))) << e.what();

    e = error_of([] { (void)tether::holders(2147483644); });
    EXPECT_EQ(e.code(), std::errc::no_such_process);
    EXPECT_TRUE(contains(e.what(), "2147483644")) << e.what();
}
