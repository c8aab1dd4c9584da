// Linux: holders() at scale and without /proc. Copies of one pipe end are
// grouped per process and the text stays bounded however many there are; the speed target
// (10,000 copies in under a second) is measured in bench/holders_bench.cpp, not here.
#include "support/harness.hpp"
#include "detail/holders.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace std::chrono_literals;
using tether_test::contains;

namespace {

// `n` close-on-exec copies of `h`, after raising the soft descriptor limit if needed.
std::vector<tether::unique_handle> copies_of(const tether::unique_handle& h, int n) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < static_cast<rlim_t>(n) + 256 && lim.rlim_max >= static_cast<rlim_t>(n) + 256) {
        lim.rlim_cur = static_cast<rlim_t>(n) + 256;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    std::vector<tether::unique_handle> out;
    for (int i = 0; i < n; ++i) out.emplace_back(::fcntl(h.get(), F_DUPFD_CLOEXEC, 0));
    return out;
}

}  // namespace

// A child holding 3,000 copies of our pipe's write end: one process, grouped; read once.
TETHER_CHILD_ROLE(holders_hold_many) {
    auto w = tether::inherited("w");
    auto release = tether::inherited("release");
    auto ready = tether::inherited("ready");
    auto many = copies_of(w, std::stoi(args.at(0)));
    if (!many.back()) return 3;
    tether::write_all(ready, std::to_string(tether::this_process_id()));
    ready.reset();
    std::byte b[1];
    (void)tether::read(release, b);
    return 0;
}

TEST(HoldersScale, CopiesInAnotherProcessAreListedOnceEachAndTheTextIsBounded) {
    const int n = 3000;
    auto [r, w] = tether::make_pipe();
    auto [ready_r, ready_w] = tether::make_pipe();
    auto [release_r, release_w] = tether::make_pipe();
    auto opt = tether_test::role_options("holders_hold_many", {std::to_string(n)});
    opt.pass(std::move(w), "w").pass(std::move(ready_w), "ready").pass(std::move(release_r), "release");
    auto c = tether::spawn(std::move(opt));
    std::error_code ec;
    auto pid_text = tether::read_to_end_for(ready_r, 20s, ec);
    ASSERT_FALSE(ec) << ec.message();

    auto rep = tether::holders(tether::this_process_id(), r.get());
    release_w.reset();
    EXPECT_TRUE(c.wait().success());
    ASSERT_EQ(rep.objects.size(), 1u);
    const auto& o = rep.objects[0];
    ASSERT_EQ(o.others.size(), static_cast<std::size_t>(n) + 1);  // the copies and "w" itself
    for (const auto& h : o.others) EXPECT_EQ(std::to_string(h.pid), pid_text);
    std::string text = tether::describe(rep);
    EXPECT_LT(text.size(), 4000u) << text.size();
    EXPECT_TRUE(contains(text, "and " + tether::detail::grouped_number(n + 1 - tether::detail::max_listed_fds) +
                                   " more descriptors in PID " + pid_text))
        << text;
    EXPECT_TRUE(contains(o.verdict, "and " + tether::detail::grouped_number(n + 1 - tether::detail::max_listed_fds) +
                                        " more), a child"))
        << o.verdict;
}

TEST(HoldersScale, CopiesInTheInspectedProcessAreOneObject) {
    const int n = 2000;
    auto pipe = tether::make_pipe();
    const auto& r = pipe.read;
    const auto& w = pipe.write;
    auto many = copies_of(w, n);
    ASSERT_TRUE(many.back());
    auto rep = tether::holders(tether::this_process_id());
    auto it = std::find_if(rep.objects.begin(), rep.objects.end(), [&](const auto& o) {
        return o.end == tether::object_end::write && std::find(o.handles.begin(), o.handles.end(), w.get()) != o.handles.end();
    });
    ASSERT_NE(it, rep.objects.end());
    EXPECT_EQ(it->handles.size(), static_cast<std::size_t>(n) + 1);
    EXPECT_TRUE(std::is_sorted(it->handles.begin(), it->handles.end()));
    EXPECT_EQ(it->handle, it->handles.front());
    // The read end's object lists the write end's copies once each, as this process's own.
    auto rd = std::find_if(rep.objects.begin(), rep.objects.end(), [&](const auto& o) { return o.handle == r.get(); });
    ASSERT_NE(rd, rep.objects.end());
    EXPECT_EQ(rd->others.size(), static_cast<std::size_t>(n) + 1);
    EXPECT_LT(tether::describe(rep).size(), 20000u);
    EXPECT_TRUE(contains(rd->verdict, "more): close your local copy")) << rd->verdict;

    // Asked about one descriptor, its copies are grouped into fds too.
    auto one = tether::holders(tether::this_process_id(), w.get());
    ASSERT_EQ(one.objects.size(), 1u);
    EXPECT_EQ(one.objects[0].handles.size(), static_cast<std::size_t>(n) + 1);
    EXPECT_EQ(one.objects[0].others.size(), 1u);  // the read end
}

// Without /proc every PID looked absent: the message now says /proc is missing. A private
// mount namespace (unshare -m, as root) hides /proc under an empty tmpfs for the tool only.
TEST(HoldersNoProc, SaysThatProcIsNotMounted) {
#ifndef TETHER_CLI_PATH
    GTEST_SKIP() << "the tether tool was not built (CLI11 not found)";
#else
    auto probe = tether_test::run_captured({"/usr/bin/unshare", "-m", "/bin/sh", "-c",
                                            "mount -t tmpfs none /proc && test ! -e /proc/self"});
    if (probe.code != 0)
        GTEST_SKIP() << "cannot hide /proc in a private mount namespace here (unshare -m needs root): "
                     << probe.err;
    auto r = tether_test::run_captured({"/usr/bin/unshare", "-m", "/bin/sh", "-c",
                                        "mount -t tmpfs none /proc && exec \"$0\" holders $$", TETHER_CLI_PATH});
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, ": /proc is not mounted")) << r.err;
    EXPECT_FALSE(contains(r.err, "no process with id")) << r.err;
#endif
}
