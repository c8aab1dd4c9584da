// Lines: line_splitter over every way chunks can cut a text, line_reader over a child's pipe,
// run()'s line callbacks, and the bound on a line that never ends (portable).
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::vector<std::string> split_in_chunks(std::string_view text, std::size_t cut, std::size_t max_line = 1 << 20) {
    tether::line_splitter split(max_line);
    std::vector<std::string> lines;
    auto take = [&lines](std::string_view l) { lines.emplace_back(l); };
    for (std::size_t at = 0; at < text.size(); at += cut)
        EXPECT_FALSE(split.feed(text.substr(at, cut), take));
    split.finish(take);
    return lines;
}

}  // namespace

TEST(Lines, SplitterCutsTheSameLinesWhereverTheChunksEnd) {
    const std::string text = "one\ntwo\r\n\r\nlone\rcarriage\n\nlast without newline";
    const std::vector<std::string> want{"one", "two", "", "lone\rcarriage", "", "last without newline"};
    for (std::size_t cut = 1; cut <= text.size(); ++cut) EXPECT_EQ(split_in_chunks(text, cut), want) << "chunks of " << cut;
    EXPECT_TRUE(split_in_chunks("", 1).empty()) << "an empty input has no line";
    EXPECT_EQ(split_in_chunks("a\n", 1), std::vector<std::string>{"a"}) << "a final newline makes no empty line";
    EXPECT_EQ(split_in_chunks("trailing cr\r", 3), std::vector<std::string>{"trailing cr"});
}

TEST(Lines, SplitterRefusesALineOverTheLimitAndHoldsNoMore) {
    tether::line_splitter split(8);
    std::vector<std::string> lines;
    auto take = [&lines](std::string_view l) { lines.emplace_back(l); };
    EXPECT_FALSE(split.feed(std::string_view("12345678\nabc"), take));
    EXPECT_EQ(lines, std::vector<std::string>{"12345678"}) << "exactly max_line is a line";
    EXPECT_FALSE(split.feed(std::string_view("defgh"), take));
    EXPECT_EQ(split.pending(), 8u);
    EXPECT_EQ(split.feed(std::string_view("i"), take), tether::errc::line_too_long);
    EXPECT_EQ(split.pending(), 0u) << "what it held is dropped";
    EXPECT_EQ(split.feed(std::string_view("\nmore\n"), take), tether::errc::line_too_long) << "and it stays failed";
    EXPECT_EQ(lines.size(), 1u);
    EXPECT_THROW(tether::line_splitter(0), std::system_error);
}

TETHER_CHILD_ROLE(write_lines) {
    auto n = std::stoi(args.at(0));
    std::string out;
    for (int i = 0; i < n; ++i) out += "line " + std::to_string(i) + (i % 2 ? "\r\n" : "\n");
    out += "no newline at the end";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

// Writes one line that never ends, until the reader goes away.
TETHER_CHILD_ROLE(endless_line) {
    std::string chunk(65536, 'x');
    while (std::fwrite(chunk.data(), 1, chunk.size(), stdout) == chunk.size()) {
    }
    return 0;
}

TEST(Lines, ReaderReadsAChildsLinesAndTheLastOneWithoutNewline) {
    auto opt = tether_test::role_options("write_lines", {"20000"});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    tether::line_reader lines(out);
    int n = 0;
    std::string last;
    while (auto line = lines.next()) {
        if (n < 20000) {
            EXPECT_EQ(*line, "line " + std::to_string(n));
        }
        last = std::string(*line);
        ++n;
    }
    EXPECT_EQ(n, 20001);
    EXPECT_EQ(last, "no newline at the end");
    EXPECT_FALSE(lines.next()) << "end-of-file stays end-of-file";
    EXPECT_TRUE(c.wait().success());
}

TEST(Lines, ReaderStopsALineThatNeverEndsAtTheLimit) {
    auto opt = tether_test::role_options("endless_line");
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    tether::line_reader lines(out, 1 << 20);
    try {
        (void)lines.next();
        FAIL() << "a line with no end was returned";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::line_too_long);
        EXPECT_NE(std::string(e.what()).find("1048576 bytes"), std::string::npos) << e.what();
    }
    out.reset();  // the writer sees its reader gone
    c.kill();
    (void)c.wait();
}

TEST(Lines, RunDeliversLinesAndEndsAChildWhoseLineNeverEnds) {
    tether::run_options ro;
    ro.timeout = 60s;
    std::vector<std::string> lines;
    ro.on_stdout_line = [&lines](std::string_view l) { lines.emplace_back(l); };
    auto r = tether::run(tether_test::role_options("write_lines", {"3"}), ro);
    EXPECT_TRUE(r.status.success());
    EXPECT_EQ(lines, (std::vector<std::string>{"line 0", "line 1", "line 2", "no newline at the end"}));
    EXPECT_TRUE(r.out.empty()) << "lines are streamed, not captured";

    tether::run_options endless;
    endless.timeout = 60s;
    endless.max_line = 4096;
    endless.on_stdout_line = [](std::string_view) { ADD_FAILURE() << "a line was delivered"; };
    try {
        (void)tether::run(tether_test::role_options("endless_line"), endless);
        FAIL() << "run() returned";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::line_too_long);
        EXPECT_NE(std::string(e.what()).find("stdout longer than 4096 bytes"), std::string::npos) << e.what();
    }
    tether::run_options both;
    both.on_stdout = [](std::span<const std::byte>) {};
    both.on_stdout_line = [](std::string_view) {};
    EXPECT_THROW((void)tether::run(tether_test::role_options("write_lines", {"1"}), both), std::system_error);
}
