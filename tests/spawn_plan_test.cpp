// Shared, no processes: table tests of the portable internals that every backend relies on
// (manifest format, handle values, environment assembly, placeholder substitution).
#include "detail/manifest.hpp"
#include "detail/backend.hpp"
#include "detail/spawn_rules.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace d = tether::detail;

TEST(ManifestFormat, RoundTripWithAndWithoutIdentity) {
    std::vector<d::manifest_entry> in = {{"control", tether::native_handle(3), "fd01.2a"},
                                         {"log.1", tether::native_handle(10), ""}};
    auto text = d::format_manifest(in);
    EXPECT_EQ(text, "control:3@fd01.2a,log.1:10");
    std::vector<d::manifest_entry> out;
    ASSERT_FALSE(d::parse_manifest(text, out)) << text;
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].name, "control");
    EXPECT_EQ(out[0].value, tether::native_handle(3));
    EXPECT_EQ(out[0].identity, "fd01.2a");
    EXPECT_EQ(out[1].name, "log.1");
    EXPECT_EQ(out[1].value, tether::native_handle(10));
    EXPECT_EQ(out[1].identity, "");
}

TEST(ManifestFormat, HandleNames) {
    using list = std::vector<std::string>;
    for (const auto& good : list{"a", "Z9", "log-file_2.txt", std::string(64, 'n')})
        EXPECT_TRUE(d::valid_handle_name(good)) << good;
    for (const auto& bad : list{"", "a b", "a,b", "a:b", "a=b", "a@b", "a/b", std::string(65, 'n'), "\xc3\xa9"})
        EXPECT_FALSE(d::valid_handle_name(bad)) << bad;
}

TEST(ManifestFormat, Pids) {
    EXPECT_EQ(d::parse_pid("4242"), 4242);
    EXPECT_EQ(d::format_handle_value(tether::native_handle(42)), "42");
    for (const char* bad : {"", "-1", "+1", "12a", " 1", "01"}) EXPECT_FALSE(d::parse_pid(bad)) << bad;
}

TEST(SpawnPlan, BuildEnvironment) {
    tether::spawn_options opt;
    opt.env_set = {{"NEW", "1"}, {"KEEP", "overridden"}, {"GONE_TOO", "x"}};
    opt.env_unset = {"DROP", "GONE_TOO"};
    std::vector<std::string> ours = {"KEEP=old", "DROP=x", "OTHER=y", "TETHER_HANDLES=stale:3",
                                     "TETHER_PARENT_PID=1", "EMPTY="};
    auto env = d::build_environment(opt, ours, "log:3", "77", false);
    std::vector<std::string> expected = {"OTHER=y", "EMPTY=", "KEEP=overridden", "NEW=1",
                                         "TETHER_HANDLES=log:3", "TETHER_PARENT_PID=77"};
    EXPECT_EQ(env, expected);
    opt.inherit_environment = false;
    env = d::build_environment(opt, ours, "", "77", false);
    EXPECT_EQ(env, (std::vector<std::string>{"KEEP=overridden", "NEW=1"}));
}

TEST(SpawnPlan, BuildEnvironmentFoldsCaseWhenAsked) {
    tether::spawn_options opt;
    opt.env_unset = {"path"};
    std::vector<std::string> ours = {"Path=C:\\x", "=C:=C:\\", "tether_handles=old:1"};
    auto env = d::build_environment(opt, ours, "", "1", true);
    EXPECT_EQ(env, (std::vector<std::string>{"=C:=C:\\"})) << "per-drive entries survive; names fold case";
    std::string storage;
    EXPECT_EQ(d::find_env(ours, "PATH", true, &storage), &storage);
    EXPECT_EQ(storage, "C:\\x");
    EXPECT_EQ(d::find_env(ours, "PATH", false, &storage), nullptr);
}

// A native handle with the given value on either platform (an int, or a HANDLE pointer).
template <class T = tether::native_handle>
T handle_of(int v) {
    if constexpr (std::is_pointer_v<T>) {
        return reinterpret_cast<T>(static_cast<std::intptr_t>(v));  // NOLINT: a handle value
    } else {
        return v;
    }
}

TEST(SpawnPlan, SubstituteHandleArgs) {
    tether::native_handle a = handle_of(100), b = handle_of(200);
    std::vector<std::string> argv = {"prog", tether::handle_arg(tether::borrowed_handle(a)),
                                     "--pair=" + tether::handle_arg(tether::borrowed_handle(a)) + "," +
                                         tether::handle_arg(tether::borrowed_handle(b)),
                                     "{tether-handle:unterminated"};
    std::string what;
    std::vector<d::handle_mapping> map = {{a, handle_of(3)}, {b, handle_of(4)}};
    ASSERT_FALSE(d::substitute_handle_args(argv, map, what)) << what;
    EXPECT_EQ(argv, (std::vector<std::string>{"prog", "3", "--pair=3,4", "{tether-handle:unterminated"}));
    std::vector<std::string> missing = {tether::handle_arg(tether::borrowed_handle(handle_of(300)))};
    EXPECT_EQ(d::substitute_handle_args(missing, map, what), tether::errc::invalid_argument);
    EXPECT_NE(what.find("300"), std::string::npos) << what;
}

TEST(SpawnPlan, ManifestListsOnlyNamedHandles) {
    tether::spawn_options opt;
    auto p1 = tether::make_pipe();
    opt.pass(std::move(p1.read), "first").pass(std::move(p1.write));
    std::vector<d::handle_mapping> map = {{opt.handles[0].h.get(), tether::native_handle(3)},
                                          {opt.handles[1].h.get(), tether::native_handle(4)}};
    // With the identity of the object (empty where the platform records none).
    auto id = d::handle_identity(opt.handles[0].h.get());
    EXPECT_EQ(d::manifest_for(opt, map), "first:3" + (id.empty() ? std::string() : "@" + id));
}
