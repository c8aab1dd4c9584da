// The built `tether` tool, run as a real process: --help, bad input with exit code 2,
// `holders --json` parsed and checked, and `tether demo` from start to end.
#include "support/harness.hpp"
#include "support/lifetime_support.hpp"
#include "support/strict_utf8.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

using run_result = tether_test::captured;

// Runs the tether tool with `args`; stdout and stderr captured.
run_result run_tether(const std::vector<std::string>& args) {
#ifdef TETHER_CLI_PATH
    std::vector<std::string> argv{TETHER_CLI_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    return tether_test::run_captured(std::move(argv));
#else
    (void)args;
    return {};
#endif
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

#ifdef TETHER_CLI_PATH
#define REQUIRE_CLI() (void)0
#else
#define REQUIRE_CLI() GTEST_SKIP() << "the tether tool was not built (CLI11 not found)"
#endif

// ---- A minimal JSON reader, enough to check the tool's output: objects, arrays, strings
// (escapes kept simple: \" \\ \uXXXX below 0x80), integers, null, true/false.
struct json {
    enum class kind { null, boolean, number, string, array, object } k{kind::null};
    bool b{false};
    long long n{0};
    std::string s;
    std::vector<json> a;
    std::map<std::string, json> o;

    const json& operator[](const std::string& key) const {
        auto it = o.find(key);
        if (k != kind::object || it == o.end()) throw std::runtime_error("no key " + key);
        return it->second;
    }
    const json& operator[](std::size_t i) const { return a.at(i); }
};

class json_reader {
public:
    explicit json_reader(std::string_view text) : t_(text) {}
    json document() {
        json v = value();
        skip();
        if (p_ != t_.size()) fail("trailing text");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& why) { throw std::runtime_error(why + " at " + std::to_string(p_)); }
    void skip() {
        while (p_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[p_]))) ++p_;
    }
    bool eat(char c) {
        skip();
        if (p_ < t_.size() && t_[p_] == c) return ++p_, true;
        return false;
    }
    void expect(char c) {
        if (!eat(c)) fail(std::string("expected ") + c);
    }
    json value() {
        skip();
        if (p_ >= t_.size()) fail("unexpected end");
        char c = t_[p_];
        json v;
        if (c == '{') return object();
        if (c == '[') return array();
        if (c == '"') return v.k = json::kind::string, v.s = string(), v;
        if (t_.substr(p_, 4) == "null") return p_ += 4, v;
        if (t_.substr(p_, 4) == "true") return p_ += 4, v.k = json::kind::boolean, v.b = true, v;
        if (t_.substr(p_, 5) == "false") return p_ += 5, v.k = json::kind::boolean, v;
        std::size_t used = 0;
        v.n = std::stoll(std::string(t_.substr(p_, 24)), &used);
        p_ += used;
        v.k = json::kind::number;
        return v;
    }
    json object() {
        json v;
        v.k = json::kind::object;
        expect('{');
        if (eat('}')) return v;
        do {
            skip();
            std::string key = string();
            expect(':');
            v.o[key] = value();
        } while (eat(','));
        expect('}');
        return v;
    }
    json array() {
        json v;
        v.k = json::kind::array;
        expect('[');
        if (eat(']')) return v;
        do v.a.push_back(value());
        while (eat(','));
        expect(']');
        return v;
    }
    std::string string() {
        expect('"');
        std::string s;
        while (p_ < t_.size() && t_[p_] != '"') {
            char c = t_[p_++];
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
            if (c != '\\') {
                s += c;
                continue;
            }
            char e = t_.at(p_++);
            if (e == 'u') {
                int code = std::stoi(std::string(t_.substr(p_, 4)), nullptr, 16);
                s += code < 0x80 ? static_cast<char>(code) : '?';  // enough for these checks
                p_ += 4;
            } else {
                s += e == 'n' ? '\n' : e == 't' ? '\t' : e;
            }
        }
        expect('"');
        return s;
    }

    std::string_view t_;
    std::size_t p_{0};
};

}  // namespace

TEST(Cli, HelpListsSubcommandsAndExitsZero) {
    REQUIRE_CLI();
    auto r = run_tether({"--help"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "demo")) << r.out;
    EXPECT_TRUE(contains(r.out, "holders")) << r.out;
    EXPECT_FALSE(contains(r.out, "demo-child")) << "the child role is hidden: " << r.out;

    r = run_tether({"holders", "--help"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "--json")) << r.out;
    EXPECT_TRUE(contains(r.out, "PID:FD")) << r.out;
    EXPECT_TRUE(contains(r.out, "Windows the system handle table")) << r.out;

    r = run_tether({"demo", "--help"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "DisposeLocalCopyOfClientHandle")) << r.out;
}

TEST(Cli, VersionIsTheProjectVersion) {
    REQUIRE_CLI();
    auto r = run_tether({"--version"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, std::string("tether ") + TETHER_VERSION_STRING + "\n");
    EXPECT_STREQ(tether::library_version(), TETHER_VERSION_STRING);
}

TEST(Cli, UsageErrorsExitWithTwo) {
    REQUIRE_CLI();
    for (const auto& args : std::vector<std::vector<std::string>>{
             {}, {"frobnicate"}, {"holders"}, {"holders", "1", "2"}, {"demo", "--timeout", "0"}}) {
        auto r = run_tether(args);
        EXPECT_EQ(r.code, 2) << (args.empty() ? "(no arguments)" : args[0]) << ": " << r.err;
        EXPECT_FALSE(r.err.empty());
    }
}

TEST(Cli, MalformedTargetExitsWithTwoAndNamesIt) {
    REQUIRE_CLI();
    for (std::string bad : {"abc", "12:x", "12:", ":5", "-5", "0", "12:-1", "1 2", "99999999999999999999"}) {
        auto r = run_tether({"holders", "--", bad});
        EXPECT_EQ(r.code, 2) << bad << ": " << r.err;
        EXPECT_TRUE(contains(r.err, "'" + bad + "' is not PID or PID:FD")) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
}

TEST(Cli, ProcessThatDoesNotExistExitsWithTwo) {
    REQUIRE_CLI();
    auto r = run_tether({"holders", "2147483647"});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "no process with id 2147483647")) << r.err;
}

TEST(Cli, DescriptorThatIsNotAPipeOrNotOpenExitsWithTwo) {
    REQUIRE_CLI();
    tether::unique_handle null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(null);
    std::string self = std::to_string(tether::this_process_id());
    auto r = run_tether({"holders", self + ":" + std::to_string(null.get())});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "/dev/null, not a pipe, a Unix socket or a terminal")) << r.err;

    r = run_tether({"holders", self + ":9999"});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "descriptor 9999 is not open")) << r.err;
}

TEST(Cli, JsonOutputParsesAndCarriesTheFacts) {
    REQUIRE_CLI();
    auto [r, w] = tether::make_pipe();
    auto self = tether::this_process_id();
    auto res = run_tether({"holders", std::to_string(self) + ":" + std::to_string(r.get()), "--json"});
    ASSERT_EQ(res.code, 0) << res.err;
    json doc;
    ASSERT_NO_THROW(doc = json_reader(res.out).document()) << res.out;
    EXPECT_EQ(doc["schema"].s, "tether.holders/1");
    EXPECT_EQ(doc["pid"].n, self);
    EXPECT_TRUE(contains(doc["command"].s, "tether_tests"));
    EXPECT_EQ(doc["not_inspected_count"].n, static_cast<long long>(doc["not_inspected"].a.size()));
    ASSERT_EQ(doc["objects"].a.size(), 1u);
    const json& o = doc["objects"][0];
    EXPECT_EQ(o["fd"].n, r.get());
    EXPECT_EQ(o["kind"].s, "pipe");
    EXPECT_EQ(o["end"].s, "read");
    EXPECT_GT(o["inode"].n, 0);
    EXPECT_EQ(o["peer_inode"].n, 0);  // socket fields are present for pipes too
    EXPECT_TRUE(o["peer_holders"].a.empty());
    EXPECT_EQ(o["read_shut_down"].k, json::kind::boolean);
    ASSERT_EQ(o["others"].a.size(), 1u);
    const json& h = o["others"][0];
    EXPECT_EQ(h["pid"].n, self);
    EXPECT_EQ(h["fd"].n, w.get());
    EXPECT_EQ(h["end"].s, "write");
    EXPECT_EQ(h["relation"].s, "self");
    EXPECT_EQ(h["generations"].n, 0);
    EXPECT_TRUE(contains(o["verdict"].s, "held by this process itself (fd " + std::to_string(w.get()) + ")"));

    w.reset();  // a writer's verdict-free object is null, not ""
    res = run_tether({"holders", std::to_string(self), "--json"});
    ASSERT_EQ(res.code, 0) << res.err;
    ASSERT_NO_THROW(doc = json_reader(res.out).document()) << res.out;
    EXPECT_GE(doc["objects"].a.size(), 1u);
}

TEST(Cli, HumanOutputIsATableWithTheVerdict) {
    REQUIRE_CLI();
    auto [r, w] = tether::make_pipe();
    auto res = run_tether({"holders", std::to_string(tether::this_process_id())});
    ASSERT_EQ(res.code, 0) << res.err;
    EXPECT_TRUE(contains(res.out, "FD OBJECT")) << res.out;
    EXPECT_TRUE(contains(res.out, "pipe:[")) << res.out;
    EXPECT_TRUE(contains(res.out, "fd " + std::to_string(r.get()) + " (read end of pipe")) << res.out;
    EXPECT_TRUE(contains(res.out, "close your local copy of the client handle")) << res.out;
}

TEST(Cli, DemoTellsTheStoryAndExitsZero) {
    REQUIRE_CLI();
    auto r = run_tether({"demo"});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    for (std::string_view sentence :
         {"write end (client): 2 copies", "DisposeLocalCopyOfClientHandle()", "then end-of-file after",
          "timed out, no end-of-file", "would wait here forever",
          "end-of-file will not arrive while the write end is also held by this process itself (fd",
          "close your local copy of the client handle", "end-of-file arrives at once",
          "write end (client): 0 copies", "(seen from the child, holders(", "Part 3: the tether way"})
        EXPECT_TRUE(contains(r.out, sentence)) << "missing: " << sentence << "\n" << r.out;
}

// Part 4 runs part 2's bug in a real .NET 10 program where the build found the .NET SDK, and
// says plainly that it skipped it where not.
TEST(Cli, DemoTellsPartFourWithARealDotnetParentOrSaysWhyNot) {
    REQUIRE_CLI();
    auto r = run_tether({"demo"});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    std::string skip_reason = TETHER_DOTNET_SKIP_REASON;
    std::vector<std::string> sentences{"Part 4: the same bug in a real .NET 10 program"};
    if (!skip_reason.empty())
        sentences.push_back("Skipped: " + skip_reason + ".\n");
    else
        sentences.insert(sentences.end(),
                         {".NET: read \"hello from the child, PID ", ".NET: no end-of-file after ",
                          "on the .NET program says (\"this process\" is the .NET program):\n     fd ",
                          "end-of-file will not arrive while the write end is also held by this process itself (fd",
                          " ms after DisposeLocalCopyOfClientHandle()\n"});
    for (const auto& sentence : sentences)
        EXPECT_TRUE(contains(r.out, sentence)) << "missing: " << sentence << "\n" << r.out;
}

TEST(Cli, JsonEscapesAwkwardCommandLines) {
    REQUIRE_CLI();
    // A holder whose arguments carry a newline, a quote and a byte that is not UTF-8 (the role
    // from holders_test.cpp; it ignores its arguments).
    auto [r, w] = tether::make_pipe();
    auto [ready_r, ready_w] = tether::make_pipe();
    auto [release_r, release_w] = tether::make_pipe();
    auto opt = tether_test::role_options("holders_hold", {"line\nbreak", "say \"hi\"", "bad\xff"});
    opt.pass(std::move(w), "w").pass(std::move(ready_w), "ready").pass(std::move(release_r), "release");
    auto c = tether::spawn(std::move(opt));
    std::error_code ec;
    (void)tether::read_to_end_for(ready_r, 20s, ec);
    ASSERT_FALSE(ec) << ec.message();

    auto res = run_tether({"holders", std::to_string(tether::this_process_id()) + ":" + std::to_string(r.get()), "--json"});
    release_w.reset();
    EXPECT_TRUE(c.wait().success());
    ASSERT_EQ(res.code, 0) << res.err;
    json doc;
    ASSERT_NO_THROW(doc = json_reader(res.out).document()) << res.out;
    std::string cmd = doc["objects"][0]["others"][0]["command"].s;
    EXPECT_NE(cmd.find("line\nbreak say \"hi\" bad?"), std::string::npos) << cmd;
    EXPECT_NE(res.out.find("bad\\ufffd"), std::string::npos) << res.out;
}

using tether_test::first_invalid_utf8;

TEST(Cli, TheStrictDecoderRefusesWhatItShould) {
    for (const char* bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\x80", "\xE2\x82"})
        EXPECT_EQ(first_invalid_utf8(bad), 0u) << bad;
    EXPECT_EQ(first_invalid_utf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"), std::string_view::npos);
}

// every ill-formed sequence in a command line becomes U+FFFD; the JSON as a whole
// passes a strict decoder, and the well-formed characters next to them survive.
TEST(Cli, JsonIsStrictUtf8WhateverTheCommandLineHolds) {
    REQUIRE_CLI();
    std::vector<std::string> nasty = {"overlong\xC0\xAF", "overlong3\xE0\x80\xAF", "surrogate\xED\xA0\x80",
                                      "above\xF4\x90\x80\x80", "f5\xF5\x80\x80\x80", "f7\xF7\xBF\xBF\xBF",
                                      "cut\xE2\x82", "ok\xC3\xA9\xF0\x9F\x98\x80"};
    auto [r, w] = tether::make_pipe();
    auto [ready_r, ready_w] = tether::make_pipe();
    auto [release_r, release_w] = tether::make_pipe();
    auto opt = tether_test::role_options("holders_hold", nasty);
    opt.pass(std::move(w), "w").pass(std::move(ready_w), "ready").pass(std::move(release_r), "release");
    auto c = tether::spawn(std::move(opt));
    std::error_code ec;
    (void)tether::read_to_end_for(ready_r, 20s, ec);
    ASSERT_FALSE(ec) << ec.message();
    auto res = run_tether({"holders", std::to_string(tether::this_process_id()) + ":" + std::to_string(r.get()), "--json"});
    release_w.reset();
    EXPECT_TRUE(c.wait().success());
    ASSERT_EQ(res.code, 0) << res.err;
    auto bad = first_invalid_utf8(res.out);
    EXPECT_EQ(bad, std::string_view::npos) << "invalid UTF-8 at offset " << bad << ": " << res.out.substr(bad == std::string::npos ? 0 : bad, 40);
    for (const char* kept : {"overlong\\ufffd\\ufffd", "surrogate\\ufffd\\ufffd\\ufffd", "above\\ufffd", "cut\\ufffd\\ufffd",
                             "ok\xC3\xA9\xF0\x9F\x98\x80"})
        EXPECT_TRUE(contains(res.out, kept)) << kept << "\n" << res.out;
}

// ---- tether run

namespace {

// The PID in "held open by PID 4242 `...`" of `tether run`'s stderr (0 if absent).
long long held_by(const std::string& err) {
    auto at = err.find("held open by PID ");
    return at == std::string::npos ? 0 : std::stoll(err.substr(at + 17));
}

}  // namespace

TEST(Cli, RunInAShellPipelineReturnsAtOnceAndNamesWhoKeepsTheOutput) {
    REQUIRE_CLI();
#ifdef TETHER_CLI_PATH
    // Without tether, `sh -c 'sleep 100 & echo hi' | cat` waits the 100 s for the background job.
    auto r = tether_test::run_captured({"/bin/sh", "-c", std::string(TETHER_CLI_PATH) + " run -- sh -c 'sleep 100 & echo hi' | cat"});
    EXPECT_EQ(r.out, "hi\n");
    EXPECT_TRUE(contains(r.err, "stdout is still held open by PID")) << r.err;
    EXPECT_TRUE(contains(r.err, "`sleep 100` (fd 1), started by sh")) << r.err;
    auto pid = held_by(r.err);
    ASSERT_GT(pid, 0) << r.err;
    EXPECT_TRUE(tether_test::running_now(pid));
    tether_test::end_if_running(pid);
    auto direct = run_tether({"run", "--", "sh", "-c", "sleep 100 & echo hi"});
    EXPECT_EQ(direct.code, 120) << direct.err;  // exit_output_held
    tether_test::end_if_running(held_by(direct.err));
#endif
}

TEST(Cli, RunTimeoutWithKillTreeLeavesNoDescendant) {
    REQUIRE_CLI();
    auto r = run_tether({"run", "--timeout", "300ms", "--kill-tree", "--json", "--", "sh", "-c", "sleep 100 & echo $!; sleep 100"});
    EXPECT_EQ(r.code, 124) << r.err;
    EXPECT_TRUE(contains(r.err, "still running after 300 ms")) << r.err;
    EXPECT_TRUE(contains(r.err, "\"timed_out\":true")) << r.err;
    ASSERT_FALSE(r.out.empty());
    tether_test::expect_ended(std::stoll(r.out));
}

TEST(Cli, RunPassesTheExitCodeOnAndRefusesBadInput) {
    REQUIRE_CLI();
    EXPECT_EQ(run_tether({"run", "--", "sh", "-c", "exit 3"}).code, 3);
    EXPECT_EQ(run_tether({"run", "--", "sh", "-c", "kill -9 $$"}).code, 128 + 9);
    auto missing = run_tether({"run", "--", "tether-no-such-program"});
    EXPECT_EQ(missing.code, 127);
    EXPECT_TRUE(contains(missing.err, "'tether-no-such-program' not found")) << missing.err;
    auto bad = run_tether({"run", "--timeout", "5x", "--", "true"});
    EXPECT_EQ(bad.code, 2);
    EXPECT_TRUE(contains(bad.err, "--timeout '5x' is not a duration")) << bad.err;
    EXPECT_EQ(run_tether({"run", "--timeout", "-1", "--", "true"}).code, 2);
}

// Started with SIGCHLD ignored (inherited through exec from some supervisors), the kernel
// would discard CMD's status: the tool takes the default back and passes the real code on.
TEST(Cli, RunStartedWithSigchldIgnoredPassesTheRealExitCodeOn) {
    REQUIRE_CLI();
#ifdef TETHER_CLI_PATH
    // (dash's `trap '' CHLD` does not reach a child; Python's signal() does.)
    auto r = tether_test::run_captured({"python3", "-c",
                                        "import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); "
                                        "os.execv(sys.argv[1], sys.argv[1:])",
                                        TETHER_CLI_PATH, "run", "--", "sh", "-c", "exit 3"});
    EXPECT_EQ(r.code, 3) << r.err;
#endif
}

// With SIGPIPE ignored (usual under CI runners), a reader of our stdout that went away is
// EPIPE: the run ends CMD and exits 141 instead of draining it forever. `timeout` bounds a
// regression: it would exit 124.
TEST(Cli, RunWhoseStdoutReaderWentAwayEndsWithSigpipeIgnored) {
    REQUIRE_CLI();
#ifdef TETHER_CLI_PATH
    auto script = "trap '' PIPE; (timeout 60 " + std::string(TETHER_CLI_PATH) + " run -- yes; echo \"rc=$?\" >&2) | head -1";
    auto r = tether_test::run_captured({"/bin/sh", "-c", script});
    EXPECT_EQ(r.out, "y\n");
    EXPECT_TRUE(contains(r.err, "rc=141")) << r.err;
#endif
}

TEST(Cli, RunTakesAZeroGrace) {
    REQUIRE_CLI();
    auto r = run_tether({"run", "--grace", "0", "--", "sh", "-c", "echo hi"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "hi\n");
    auto zero = run_tether({"run", "--timeout", "0", "--", "true"});
    EXPECT_EQ(zero.code, 2);
    EXPECT_TRUE(contains(zero.err, "timeout must be positive")) << zero.err;
}

// Like `timeout` or `env`: everything from the first word that is not an option of run's is
// the command, with or without `--`; an option of CMD's after it is CMD's.
TEST(Cli, RunTakesTheCommandWithoutADoubleDash) {
    REQUIRE_CLI();
    auto r = run_tether({"run", "sh", "-c", "echo \"$0 $1\"", "--timeout", "x"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "--timeout x\n");
    auto timed = run_tether({"run", "--timeout", "60s", "--grace=0", "sh", "-c", "exit 4"});
    EXPECT_EQ(timed.code, 4) << timed.err;
    auto dashed = run_tether({"run", "--", "sh", "-c", "echo -- \"$0\"", "--"});
    EXPECT_EQ(dashed.out, "-- --\n") << dashed.err;
}

TEST(Cli, AnUnknownSubcommandIsNamed) {
    REQUIRE_CLI();
    auto r = run_tether({"bogus"});
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(contains(r.err, "unknown subcommand 'bogus'")) << r.err;
    EXPECT_TRUE(contains(r.err, "demo, holders, run")) << r.err;
    auto help = run_tether({"demo", "--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_FALSE(contains(help.out, "SUBCOMMAND --help")) << "demo's help carries the top-level footer:\n" << help.out;
}
