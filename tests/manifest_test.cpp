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

// Issue 13, 11: the parser is linear (bench/manifest_bench.cpp measures it); here a 1 MiB
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
