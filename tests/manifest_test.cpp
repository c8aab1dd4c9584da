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
