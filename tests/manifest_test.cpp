// Table tests of the manifest and handle-string parsers (portable, no processes).
#include "detail/manifest.hpp"

#include <tether/error.hpp>

#include <gtest/gtest.h>

using tether::detail::manifest_entry;
using tether::detail::parse_handle_value;
using tether::detail::parse_manifest;

TEST(ManifestParse, AcceptsWellFormedLists) {
    std::vector<manifest_entry> out;
    ASSERT_FALSE(parse_manifest("", out));
    EXPECT_TRUE(out.empty());
    ASSERT_FALSE(parse_manifest("control:3,log.1:4@1f.2a,a-b_c:10", out));
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].name, "control");
    EXPECT_EQ(out[0].identity, "");
    EXPECT_EQ(out[1].name, "log.1");
    EXPECT_EQ(out[1].identity, "1f.2a");
    EXPECT_EQ(out[2].name, "a-b_c");
    EXPECT_EQ(tether::detail::format_manifest(out), "control:3,log.1:4@1f.2a,a-b_c:10");
}

TEST(ManifestParse, RejectsMalformedListsAndLeavesNothing) {
    const char* bad[] = {"control",     "control:",   ":3",          "a:3,",       ",a:3",
                         "a:3,,b:4",    "a:3,a:4",    "a:x",         "a:-1",       "a:03",
                         "a b:3",       "a:3@",       "a:3@XY",      "a:3@1@2",    "a:3 ",
                         "a:99999999999", "a:3@g.1",  "ä:3"};
    for (const char* text : bad) {
        std::vector<manifest_entry> out{{"stale", tether::invalid_native_handle(), ""}};
        EXPECT_EQ(parse_manifest(text, out), tether::errc::invalid_handle_string) << text;
        EXPECT_TRUE(out.empty()) << text;
    }
}

TEST(HandleValue, DecimalOnlyOneSpelling) {
    EXPECT_TRUE(parse_handle_value("0"));
    EXPECT_TRUE(parse_handle_value("2147483647"));
    for (const char* text : {"", "-1", "+3", "03", " 3", "3 ", "3x", "0x3", "99999999999999999999999"})
        EXPECT_FALSE(parse_handle_value(text)) << text;
}

// the parser is linear (bench/manifest_bench.cpp measures it); here a 1 MiB
// manifest is checked for being read correctly, entry by entry, and a repeat at its very end
// is still found.
TEST(ManifestParse, AOneMebibyteManifestIsReadWhole) {
    std::vector<manifest_entry> in;
    std::string text;
    for (int i = 0; text.size() < (1u << 20); ++i) {
        in.push_back({"h" + std::to_string(i), tether::detail::parse_handle_value(std::to_string(i % 100000)).value(),
                      i % 3 == 0 ? "1f.2a" : ""});
        text += (text.empty() ? "" : ",") + tether::detail::format_manifest({in.back()});
    }
    ASSERT_GE(text.size(), 1u << 20);
    std::vector<manifest_entry> out;
    ASSERT_FALSE(parse_manifest(text, out));
    ASSERT_EQ(out.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        ASSERT_EQ(out[i].name, in[i].name) << i;
        ASSERT_EQ(out[i].value, in[i].value) << i;
        ASSERT_EQ(out[i].identity, in[i].identity) << i;
    }
    EXPECT_EQ(tether::detail::format_manifest(out), text);
    EXPECT_EQ(parse_manifest(text + ",h0:1", out), tether::errc::invalid_handle_string);
    EXPECT_TRUE(out.empty());
}

// ---- systemd's socket activation variables (sd_listen_fds(3)), as the child reads them.

namespace {
using tether::detail::listen_variables;
using tether::detail::parse_listen_fds;

std::error_code listen(listen_variables v, std::vector<manifest_entry>& out, std::string& what, std::int64_t me = 42) {
    return parse_listen_fds(v, me, out, what);
}
}  // namespace

TEST(ListenFdsParse, ReadsWhatIsAddressedToUs) {
    std::vector<manifest_entry> out;
    std::string what;
    ASSERT_FALSE(listen({"42", "2", "http:admin"}, out, what)) << what;
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].name, "http");
    EXPECT_EQ(tether::handle_to_integer(out[0].value), 3u);
    EXPECT_EQ(out[1].name, "admin");
    EXPECT_EQ(tether::handle_to_integer(out[1].value), 4u);
    ASSERT_FALSE(listen({"42", "2", std::nullopt}, out, what)) << what;
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].name, "unknown") << "systemd's name when LISTEN_FDNAMES is absent";
    ASSERT_FALSE(listen({"42", "1", "a name with spaces & symbols!"}, out, what)) << what;
    EXPECT_EQ(out[0].name, "a name with spaces & symbols!");
    ASSERT_FALSE(listen({"42", "0", std::nullopt}, out, what));
    EXPECT_TRUE(out.empty());
}

TEST(ListenFdsParse, IgnoresWhatIsAddressedToAnotherProcessOrAbsent) {
    std::vector<manifest_entry> out;
    std::string what;
    EXPECT_FALSE(listen({"43", "2", "a:b"}, out, what));
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(listen({"43", "garbage", ":::"}, out, what)) << "another process's variables are not ours to judge";
    EXPECT_FALSE(listen({std::nullopt, "2", "a:b"}, out, what));
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(listen({"42", std::nullopt, "a"}, out, what));
    EXPECT_TRUE(out.empty());
}

TEST(ListenFdsParse, RefusesGarbageNamingTheVariableAndValue) {
    struct row {
        listen_variables v;
        const char* expect;
    };
    const row rows[] = {
        {{"abc", "1", "a"}, "LISTEN_PID='abc'"},
        {{"-42", "1", "a"}, "LISTEN_PID='-42'"},
        {{"0", "1", "a"}, "LISTEN_PID='0'"},
        {{"99999999999999999999999", "1", "a"}, "LISTEN_PID='99999999999999999999999'"},
        {{"42", "x", "a"}, "LISTEN_FDS='x'"},
        {{"42", "-1", "a"}, "LISTEN_FDS='-1'"},
        {{"42", "1e3", "a"}, "LISTEN_FDS='1e3'"},
        {{"42", "", "a"}, "LISTEN_FDS=''"},
        {{"42", "99999999999", std::nullopt}, "LISTEN_FDS='99999999999'"},
        {{"42", "2", "a"}, "LISTEN_FDNAMES='a' names 1 descriptors where LISTEN_FDS says 2"},
        {{"42", "1", "a:b"}, "LISTEN_FDNAMES='a:b'"},
        {{"42", "2", "a:a"}, "gives a name twice"},
        {{"42", "2", "a:"}, "LISTEN_FDNAMES='a:'"},
        {{"42", "1", ""}, "LISTEN_FDNAMES=''"},
        {{"42", "1", "tab\there"}, "control character"},
        {{"42", "1", std::string(256, 'n')}, "LISTEN_FDNAMES="},
    };
    for (const auto& r : rows) {
        std::vector<manifest_entry> out{{"stale", tether::handle_from_integer(9), {}}};
        std::string what;
        EXPECT_EQ(listen(r.v, out, what), tether::errc::invalid_handle_string) << r.expect;
        EXPECT_NE(what.find(r.expect), std::string::npos) << what;
        EXPECT_TRUE(out.empty());
    }
}

TEST(ListenFdsParse, NamesFollowSystemdsRule) {
    using tether::detail::valid_listen_name;
    EXPECT_TRUE(valid_listen_name("http"));
    EXPECT_TRUE(valid_listen_name(std::string(255, 'x')));
    EXPECT_FALSE(valid_listen_name(std::string(256, 'x')));
    EXPECT_FALSE(valid_listen_name(""));
    EXPECT_FALSE(valid_listen_name("a:b"));
    EXPECT_FALSE(valid_listen_name("new\nline"));
    EXPECT_FALSE(valid_listen_name("del\x7f"));
    EXPECT_FALSE(valid_listen_name("caf\xc3\xa9"));
}
