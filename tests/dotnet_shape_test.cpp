// The README's ".NET shape" snippet, run as written, with one and with two servers: the
// handle string on argv must reach the child as the value of *its* pipe (spawn substitutes it),
// and a misuse must be an error, never a child silently given another pipe. Portable: runs on
// Linux and under wine. The worker is tests/dotnet_shape/worker.cpp, built beside this binary.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace {

using tether_test::contains;

// The snippet says "./worker": run it from the directory that holds the worker, and go back
// afterwards (under wine all tests share one process).
class in_worker_directory {
public:
    in_worker_directory() : saved_(std::filesystem::current_path()) {
        std::filesystem::current_path(std::filesystem::path(tether::current_executable_path()).parent_path());
    }
    in_worker_directory(const in_worker_directory&) = delete;
    in_worker_directory& operator=(const in_worker_directory&) = delete;
    ~in_worker_directory() { std::filesystem::current_path(saved_); }

private:
    std::filesystem::path saved_;
};

std::string line_of(const tether::child& c, int argument) {
    return "worker " + std::to_string(c.pid()) + ": argument " + std::to_string(argument) + "\n";
}

TEST(DotnetShape, ReadmeSnippetWithOneServer) {
    in_worker_directory here;
    tether::spawn_options opt;
    // ---- the README, verbatim
    tether::pipe_server server(tether::direction::in);        // AnonymousPipeServerStream
    opt.argv = {"./worker", server.client_handle_string()};   // GetClientHandleAsString()
    opt.pass(server.take_client_handle());                    // spawn disposes of the local copy
    // ----
    opt.err = tether::stdio::pipe();
    tether::child worker = tether::spawn(std::move(opt));
    auto err = worker.take_stderr();
    EXPECT_EQ(server.read_to_end(), line_of(worker, 1));
    EXPECT_EQ(tether::read_to_end(err), "");
    EXPECT_TRUE(worker.wait().success());
}

// Two servers, one child: before spawn substituted the values, the child opened our numbers,
// and the first "log" line landed in the second pipe.
TEST(DotnetShape, ReadmeSnippetWithTwoServersForOneChild) {
    in_worker_directory here;
    tether::spawn_options opt;
    tether::pipe_server first(tether::direction::in);
    tether::pipe_server second(tether::direction::in);
    opt.argv = {"./worker", first.client_handle_string(), second.client_handle_string()};
    opt.pass(first.take_client_handle());
    opt.pass(second.take_client_handle());
    opt.err = tether::stdio::pipe();
    tether::child worker = tether::spawn(std::move(opt));
    auto err = worker.take_stderr();
    EXPECT_EQ(first.read_to_end(), line_of(worker, 1));
    EXPECT_EQ(second.read_to_end(), line_of(worker, 2));
    EXPECT_EQ(tether::read_to_end(err), "");
    EXPECT_TRUE(worker.wait().success());
}

// Two servers, a child each, both running at once.
TEST(DotnetShape, ReadmeSnippetWithTwoServersAndTwoChildren) {
    in_worker_directory here;
    tether::pipe_server a(tether::direction::in);
    tether::pipe_server b(tether::direction::in);
    auto start = [](tether::pipe_server& server) {
        tether::spawn_options opt;
        opt.argv = {"./worker", server.client_handle_string()};
        opt.pass(server.take_client_handle());
        return tether::spawn(std::move(opt));
    };
    tether::child worker_a = start(a);
    tether::child worker_b = start(b);
    EXPECT_EQ(b.read_to_end(), line_of(worker_b, 1));
    EXPECT_EQ(a.read_to_end(), line_of(worker_a, 1));
    EXPECT_TRUE(worker_a.wait().success());
    EXPECT_TRUE(worker_b.wait().success());
}

// The misuse: one server's string with the other's handle is refused before anything starts,
// and the options keep the handle.
TEST(DotnetShape, StringOfAServerWhoseHandleIsNotPassedIsRefused) {
    in_worker_directory here;  // so that the program is found (Windows looks for it first)
    tether::pipe_server a(tether::direction::in);
    tether::pipe_server b(tether::direction::in);
    tether::spawn_options opt;
    opt.argv = {"./worker", a.client_handle_string()};
    opt.pass(b.take_client_handle());
    try {
        (void)tether::spawn(std::move(opt));
        ADD_FAILURE() << "spawn accepted a handle string whose handle is not passed";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument) << e.what();
        EXPECT_TRUE(contains(e.what(), "which is not passed to the child")) << e.what();
    }
    ASSERT_EQ(opt.handles.size(), 1u);
    EXPECT_TRUE(opt.handles[0].h);
}

TEST(DotnetShape, ClientHandleStringAfterTheHandleWasTakenIsAnError) {
    tether::pipe_server server(tether::direction::in);
    auto taken = server.take_client_handle();
    try {
        (void)server.client_handle_string();
        ADD_FAILURE() << "client_handle_string() without a client end";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument);
        EXPECT_TRUE(contains(e.what(), "already taken or disposed of")) << e.what();
    }
}

// A placeholder that reached a process some other way (not replaced) is refused by pipe_client
// with words that say what it is, instead of being read as a number.
TEST(DotnetShape, PipeClientRefusesAnUnreplacedPlaceholder) {
    tether::pipe_server server(tether::direction::in);
    auto text = server.client_handle_string();
    try {
        tether::pipe_client client(tether::direction::out, text);
        ADD_FAILURE() << "pipe_client accepted " << text;
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_handle_string);
        EXPECT_TRUE(contains(e.what(), "'" + text + "'")) << e.what();
        EXPECT_TRUE(contains(e.what(), "only tether::spawn replaces")) << e.what();
    }
}

}  // namespace
