// The error API is even: the bounded read-to-end and write have throwing overloads beside the
// error_code ones, and spawn's error_code path can get the explanation the exception carries.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using tether_test::contains;

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(ErrorApi, ReadToEndForThrowsTimedOutAndSaysWhatHadArrived) {
    auto [r, w] = tether::make_pipe();
    tether::write_all(w, "abc");
    try {
        (void)tether::read_to_end_for(r, 50ms);
        ADD_FAILURE() << "read_to_end_for returned while the writer was open";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::timed_out) << e.what();
        EXPECT_TRUE(contains(e.what(), "(3 bytes had arrived)")) << e.what();
    }
    tether::write_all(w, "def");
    w.reset();
    EXPECT_EQ(tether::read_to_end_for(r, 20s), "def");
}

TEST(ErrorApi, WriteAllForThrowsTimedOutWhenNobodyReads) {
    auto [r, w] = tether::make_pipe();
    std::string big(4 << 20, 'x');  // larger than any pipe buffer
    try {
        tether::write_all_for(w, bytes(big), 50ms);
        ADD_FAILURE() << "4 MiB fit into a pipe nobody reads";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::timed_out) << e.what();
        EXPECT_TRUE(contains(e.what(), " of " + std::to_string(big.size()) + " bytes written)")) << e.what();
    }
    r.reset();
    try {
        tether::write_all_for(w, bytes("x"), 1s);
        ADD_FAILURE() << "a write to a pipe without a reader succeeded";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::peer_gone) << e.what();
    }
}

TEST(ErrorApi, WriteAllForWritesEverythingInTime) {
    auto [r, w] = tether::make_pipe();
    tether::write_all_for(w, bytes("hello"), 20s);
    w.reset();
    EXPECT_EQ(tether::read_to_end(r), "hello");
}

tether::spawn_options missing_program() {
    tether::spawn_options opt;
    opt.argv = {"tether-no-such-program-4711"};
    return opt;
}

TEST(ErrorApi, SpawnWithErrorCodeGivesTheThrowingOverloadsExplanation) {
    std::string thrown;
    std::error_code thrown_code;
    try {
        (void)tether::spawn(missing_program());
        ADD_FAILURE() << "a missing program started";
    } catch (const std::system_error& e) {
        thrown = e.what();
        thrown_code = e.code();
    }
    auto [r, w] = tether::make_pipe();
    auto opt = missing_program();
    opt.pass(std::move(w), "log");
    std::error_code ec;
    std::string message = "stale";
    tether::child c = tether::spawn(std::move(opt), ec, message);
    EXPECT_FALSE(c);
    EXPECT_EQ(ec, thrown_code);
    // The Linux and the Windows wording both say "not found" and name the program.
    EXPECT_TRUE(contains(message, "spawn 'tether-no-such-program-4711': program 'tether-no-such-program-4711' not found"))
        << message;
    EXPECT_EQ(thrown.rfind(message, 0), 0u) << thrown << "\nvs\n" << message;
    ASSERT_EQ(opt.handles.size(), 1u);
    EXPECT_TRUE(opt.handles[0].h) << "a failed spawn keeps the handles in the options";
}

TEST(ErrorApi, SpawnWithErrorCodeClearsTheMessageOnSuccess) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    std::error_code ec = make_error_code(tether::errc::timed_out);
    std::string message = "stale";
    tether::child c = tether::spawn(std::move(opt), ec, message);
    ASSERT_FALSE(ec) << message;
    EXPECT_EQ(message, "");
    EXPECT_TRUE(c.wait().success());
}

}  // namespace
