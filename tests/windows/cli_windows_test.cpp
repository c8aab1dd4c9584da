// Windows only: the built `tether` tool under wine. `tether demo` tells the story with Win32
// handles: measured handle counts, the bounded wait, the stuck copy named by holders().
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
using tether_test::contains;

namespace {

using run_result = tether_test::captured;

// The tool's path: relative to this test binary's directory (see tests/CMakeLists.txt).
std::string tool_path() {
#ifdef TETHER_CLI_RELATIVE_PATH
    std::string exe = tether::current_executable_path();
    std::string rel = TETHER_CLI_RELATIVE_PATH;
    std::replace(rel.begin(), rel.end(), '/', '\\');
    return exe.substr(0, exe.find_last_of("\\/") + 1) + rel;
#else
    return {};
#endif
}

// Runs the tool with `args`; stdout and stderr captured.
run_result run_tether(const std::vector<std::string>& args) {
    std::vector<std::string> argv{tool_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return tether_test::run_captured(std::move(argv));
}

}  // namespace

#ifdef TETHER_CLI_RELATIVE_PATH
#define REQUIRE_CLI() (void)0
#else
#define REQUIRE_CLI() GTEST_SKIP() << "the tether tool was not built (CLI11 not found)"
#endif

TEST(WindowsCli, DemoTellsTheStoryWithHandleCounts) {
    REQUIRE_CLI();
    auto r = run_tether({"demo", "--timeout", "0.5"});
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    for (std::string_view sentence :
         {"NtQueryObject(ObjectBasicInformation).HandleCount",
          // part 1: a copy in the child raises the count of the write end; disposing lowers it
          "write end (client): 2 handles  this process (PID", "; the child (PID",
          "write end (client): 1 handle   the child (PID", "then end-of-file after",
          "every copy is closed: 0 copies",
          // part 2: the bounded wait, and the stuck copy is ours
          "write end (client): 1 handle   this process (PID", "timed out, no end-of-file",
          "would wait here forever", ") reads the system handle table and says:",
          "end-of-file (ERROR_BROKEN_PIPE) will not arrive while the write end is also held by this "
          "process itself (handle 0x",
          "Its handle count says 1 handle on the write end: the only copy left is this process's own.",
          "end-of-file arrives at once",
          // part 3
          "Part 3: the tether way", "In short: end-of-file needs every handle to the write end closed."})
        EXPECT_TRUE(contains(r.out, sentence)) << "missing: " << sentence << "\n" << r.out;
    EXPECT_FALSE(contains(r.out, "? handles")) << "a count could not be measured:\n" << r.out;
    EXPECT_FALSE(contains(r.out, "fd ")) << "the Windows story names handles, not descriptors:\n" << r.out;
}

TEST(WindowsCli, BadInputIsExitCodeTwo) {
    REQUIRE_CLI();
    auto r = run_tether({"demo", "--timeout", "0"});
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_TRUE(contains(r.err + r.out, "--timeout")) << r.out << r.err;
}

TEST(WindowsCli, HoldersListsNamedPipeEnds) {
    REQUIRE_CLI();
    // This process holds the read ends of the pipes it captures the tool's output with.
    auto r = run_tether({"holders", std::to_string(tether::this_process_id())});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "named pipe end")) << r.out;
    EXPECT_TRUE(contains(r.out, "HANDLE")) << r.out;
    EXPECT_TRUE(contains(r.out, "0x")) << r.out;
    auto bad = run_tether({"holders", std::to_string(tether::this_process_id()) + ":0x7ffffff0"});
    EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
    EXPECT_TRUE(contains(bad.err, "is not open in process")) << bad.err;
}
