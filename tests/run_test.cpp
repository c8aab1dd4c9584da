// tether::run(): both platforms (the Linux-only shell pipeline cases are in linux/run_posix_test.cpp).
#include <gtest/gtest.h>

#include <tether/error.hpp>
#include <tether/run.hpp>

#include "support/harness.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using tether_test::contains;
using tether_test::role_options;

namespace {

void put(std::FILE* f, const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), f);
    std::fflush(f);
}

}  // namespace

TETHER_CHILD_ROLE(run_two_streams) {
    put(stdout, "to stdout\n");
    put(stderr, "to stderr\n");
    put(stdout, "more stdout\n");
    return 3;
}

// Copies stdin to stdout, and every 64th chunk also to stderr: a full pipe each way unless the
// parent writes and reads at once.
TETHER_CHILD_ROLE(run_cat) {
    char buf[4096];
    std::size_t n = 0, chunks = 0;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
        std::fwrite(buf, 1, n, stdout);
        if (++chunks % 64 == 0) std::fwrite(buf, 1, n, stderr);
    }
    std::fflush(stdout);
    return 0;
}

TETHER_CHILD_ROLE(run_hang) {
    put(stdout, "started\n");
    std::this_thread::sleep_for(1h);  // the child's behaviour under test: it never ends by itself
    return 0;
}

TETHER_CHILD_ROLE(run_flood) {
    std::string block(65536, 'x');
    for (;;) std::fwrite(block.data(), 1, block.size(), stdout);
}

TETHER_CHILD_ROLE(run_binary) {
    const char bytes[] = {'a', '\0', '\n', '\r', '\xff', 'z'};
    std::fwrite(bytes, 1, sizeof bytes, stdout);
    return 0;
}

TETHER_CHILD_ROLE(run_ignores_stdin) { return 0; }

// A grandchild keeps the child's stdout (it inherits it) after the child exited, until the test
// closes its end of "hold" (under wine it also holds the test's own output, so it must not
// outlive the test by long).
TETHER_CHILD_ROLE(run_leaves_grandchild) {
    auto opt = role_options("run_linger");
    opt.pass(tether::inherited("hold"), "hold");
    auto gc = tether::spawn(std::move(opt));
    put(stderr, std::to_string(gc.pid()) + "\n");
    put(stdout, "hi\n");
    gc.detach();
    return 0;
}

TETHER_CHILD_ROLE(run_linger) {
    auto hold = tether::inherited("hold");
    std::byte b[1];
    std::error_code ec;
    (void)tether::read(hold, b, ec);  // end-of-file when the test is done (or has died)
    return 0;
}

TEST(Run, CapturesStdoutAndStderrSeparatelyWithTheExitCode) {
    auto r = tether::run(role_options("run_two_streams"));
    EXPECT_EQ(r.out, "to stdout\nmore stdout\n");
    EXPECT_EQ(r.err, "to stderr\n");
    EXPECT_TRUE(r.status.exited());
    EXPECT_EQ(r.status.code, 3);
    EXPECT_TRUE(r.stuck.empty());
    EXPECT_FALSE(r.timed_out);
}

TEST(Run, MergedStderrIsInterleavedAsWritten) {
    tether::run_options ro;
    ro.merge_stderr = true;
    auto r = tether::run(role_options("run_two_streams"), ro);
    EXPECT_EQ(r.out, "to stdout\nto stderr\nmore stdout\n");
    EXPECT_TRUE(r.err.empty());
}

TEST(Run, LargeInputAndLargeOutputAtOnceNeverDeadlock) {
    // 8 MiB each way, far past any pipe buffer: writing all input before reading would hang.
    std::string input;
    for (int i = 0; input.size() < (8u << 20); ++i) input += "line " + std::to_string(i) + "\n";
    tether::run_options ro;
    ro.input = input;
    ro.timeout = 120s;
    auto r = tether::run(role_options("run_cat"), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    EXPECT_EQ(r.out.size(), input.size());
    EXPECT_TRUE(r.out == input);
    EXPECT_GT(r.err.size(), 0u);
    EXPECT_FALSE(r.input_truncated);
}

TEST(Run, AChildThatIgnoresItsInputIsNoError) {
    tether::run_options ro;
    ro.input = std::string(4u << 20, 'i');
    auto r = tether::run(role_options("run_ignores_stdin"), ro);
    EXPECT_TRUE(r.status.success());
    EXPECT_TRUE(r.input_truncated);
}

TEST(Run, TimeoutEndsTheChildAndKeepsWhatItPrinted) {
    tether::run_options ro;
    ro.timeout = 500ms;
    std::error_code ec;
    std::string message;
    auto r = tether::run(role_options("run_hang"), ro, ec, message);
    EXPECT_EQ(ec, tether::errc::timed_out);
    EXPECT_TRUE(contains(message, "500 ms")) << message;
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(r.out, "started\n");
    EXPECT_FALSE(r.status.success());
    EXPECT_THROW((void)tether::run(role_options("run_hang"), ro), std::system_error);
}

TEST(Run, OutputLimitEndsAFloodAndKeepsExactlyTheLimit) {
    tether::run_options ro;
    ro.output_limit = 1u << 20;
    ro.timeout = 60s;
    std::error_code ec;
    std::string message;
    auto r = tether::run(role_options("run_flood"), ro, ec, message);
    EXPECT_EQ(ec, tether::errc::output_limit) << message;
    EXPECT_TRUE(r.output_limited);
    EXPECT_EQ(r.out.size(), ro.output_limit);
    EXPECT_FALSE(r.status.success());
    EXPECT_FALSE(r.timed_out);
}

TEST(Run, BytesVariantKeepsEveryByte) {
    auto r = tether::run_bytes(role_options("run_binary"));
    const unsigned char want[] = {'a', 0, '\n', '\r', 0xff, 'z'};
    ASSERT_EQ(r.out.size(), sizeof want);
    for (std::size_t i = 0; i < sizeof want; ++i) EXPECT_EQ(static_cast<unsigned char>(r.out[i]), want[i]) << i;
}

TEST(Run, StreamingDeliversChunksInsteadOfCapturing) {
    std::string seen;
    tether::run_options ro;
    ro.on_stdout = [&seen](std::span<const std::byte> d) { seen.append(reinterpret_cast<const char*>(d.data()), d.size()); };
    auto r = tether::run(role_options("run_two_streams"), ro);
    EXPECT_EQ(seen, "to stdout\nmore stdout\n");
    EXPECT_TRUE(r.out.empty());
    EXPECT_EQ(r.err, "to stderr\n");
}

TEST(Run, ReturnsWhenAGrandchildKeepsStdoutOpen) {
    tether::run_options ro;
    ro.eof_grace = 300ms;
    ro.timeout = 30s;  // a hang would fail here, not block the suite
    auto [hold, hold_child] = tether::make_pipe(tether::direction::out);  // the grandchild reads
    auto opt = role_options("run_leaves_grandchild");
    opt.pass(std::move(hold_child), "hold");
    auto r = tether::run(std::move(opt), ro);
    EXPECT_TRUE(r.status.success()) << r.status.describe();
    EXPECT_FALSE(r.timed_out) << "run() waited for the grandchild";
    EXPECT_EQ(r.out, "hi\n");
    ASSERT_FALSE(r.stuck.empty());
    EXPECT_EQ(r.stuck[0].stream, "stdout");
    EXPECT_TRUE(contains(r.stuck[0].verdict, "stdout is still held open")) << r.stuck[0].verdict;
    std::printf("stuck pipe: %s\n", r.stuck[0].verdict.c_str());
    hold.reset();  // the grandchild's end-of-file: it exits
}

TEST(Run, BadOptionsAreRefusedByName) {
    auto expect_refused = [](tether::run_options ro, std::string_view part, tether::spawn_options opt) {
        std::error_code ec;
        std::string message;
        (void)tether::run(std::move(opt), ro, ec, message);
        EXPECT_EQ(ec, tether::errc::invalid_argument) << part;
        EXPECT_TRUE(contains(message, part)) << message;
    };
    tether::run_options ro;
    ro.timeout = 0ms;
    expect_refused(ro, "timeout must be positive (got 0 ms)", role_options("run_two_streams"));
    ro.timeout = -5ms;
    expect_refused(ro, "got -5 ms", role_options("run_two_streams"));
    ro = {};
    ro.output_limit = 0;
    expect_refused(ro, "output_limit", role_options("run_two_streams"));
    ro = {};
    ro.eof_grace = -1ms;
    expect_refused(ro, "eof_grace", role_options("run_two_streams"));
    auto opt = role_options("run_two_streams");
    opt.out = tether::stdio::null();
    expect_refused({}, "spawn_options::out", std::move(opt));
}

TEST(Run, AMissingProgramIsSpawnsOwnError) {
    tether::spawn_options a, b;
    a.argv = b.argv = {"tether-no-such-program-xyz"};
    std::error_code spawn_ec, run_ec;
    std::string spawn_msg, run_msg;
    (void)tether::spawn(std::move(a), spawn_ec, spawn_msg);
    auto r = tether::run(std::move(b), {}, run_ec, run_msg);
    EXPECT_TRUE(run_ec);
    EXPECT_EQ(run_ec, spawn_ec);
    EXPECT_EQ(run_msg, spawn_msg);
    EXPECT_TRUE(r.out.empty());
}
