// Interop with .NET: a .NET child (run by Mono) opens the pipe end a
// tether parent passed, by handle string, with AnonymousPipeClientStream(PipeDirection.Out,
// handleString), and writes lines the parent reads to end-of-file. End-of-file arriving at all
// proves the parent's copy of the client end was closed by spawn (no
// DisposeLocalCopyOfClientHandle needed). Mono on Linux takes the descriptor number as the
// handle string (checked: Mono 6.8).
#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

// `name` found in PATH, or empty.
std::string find_in_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        auto end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        std::string candidate = dirs.substr(start, end - start) + "/" + name;
        if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
        start = end + 1;
    }
    return {};
}

}  // namespace

TEST(DotnetInterop, MonoChildWritesLinesThroughAPassedPipeEnd) {
#ifndef TETHER_PIPE_CLIENT_EXE
    GTEST_SKIP() << "mcs (Debian package mono-mcs) was not found when CMake ran, so "
                    "tests/dotnet/PipeClient.cs was not compiled";
#else
    auto mono = find_in_path("mono");
    if (mono.empty()) GTEST_SKIP() << "mono (Debian package mono-runtime) is not in PATH";
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    tether::spawn_options opt;
    opt.argv = {mono, TETHER_PIPE_CLIENT_EXE, tether::handle_arg(theirs), "3"};
    opt.pass(std::move(theirs));
    opt.err = tether::stdio::pipe();
    auto child = tether::spawn(std::move(opt));
    std::error_code ec;
    auto text = tether::read_to_end_for(ours, 60s, ec);
    EXPECT_FALSE(ec) << "no end-of-file from the .NET child: " << ec.message();
    auto err = tether::read_to_end(child.take_stderr());
    EXPECT_EQ(text, "line 1 from .NET\nline 2 from .NET\nline 3 from .NET\n") << "stderr: " << err;
    auto st = child.wait();
    EXPECT_TRUE(st.success()) << st.describe() << "; stderr: " << err;
#endif
}

TEST(DotnetInterop, MonoChildRejectsAHandleStringThatIsNotOpen) {
#ifndef TETHER_PIPE_CLIENT_EXE
    GTEST_SKIP() << "mcs (Debian package mono-mcs) was not found when CMake ran";
#else
    auto mono = find_in_path("mono");
    if (mono.empty()) GTEST_SKIP() << "mono (Debian package mono-runtime) is not in PATH";
    tether::spawn_options opt;
    opt.argv = {mono, TETHER_PIPE_CLIENT_EXE, "987", "1"};  // nothing was passed at 987
    opt.err = tether::stdio::pipe();
    auto child = tether::spawn(std::move(opt));
    auto err = tether::read_to_end(child.take_stderr());
    EXPECT_EQ(child.wait().code, 1) << err;
    EXPECT_NE(err.find("PipeClient:"), std::string::npos) << err;
#endif
}
