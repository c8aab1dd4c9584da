// Portable: spawn's answers to bad input name the input whole: a NUL is
// shown as \0 instead of cutting what() short, a NUL in a value is blamed on the value, and
// env_set may not write the manifest variables beside named handles.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstring>

using tether_test::contains;

namespace {

// what() as a C string reads it: up to the first NUL.
std::string c_what(tether::spawn_options opt) {
    try {
        (void)tether::spawn(std::move(opt));
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::invalid_argument) << e.what();
        return std::string(e.what(), std::strlen(e.what()));
    }
    ADD_FAILURE() << "spawn succeeded";
    return {};
}

}  // namespace

TEST(BadInput, ANulInArgv0IsShownNotCutAt) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.argv[0] = std::string("prog\0hidden", 11);
    auto msg = c_what(std::move(opt));
    EXPECT_TRUE(contains(msg, "argv[0] 'prog\\0hidden' contains a NUL byte")) << msg;
    EXPECT_TRUE(contains(msg, "spawn 'prog\\0hidden'")) << msg;
}

TEST(BadInput, ANulInALaterArgumentNamesItsIndex) {
    auto opt = tether_test::role_options("exit_with", {std::string("a\0b", 3)});
    auto msg = c_what(std::move(opt));
    EXPECT_TRUE(contains(msg, "argv[3] 'a\\0b' contains a NUL byte")) << msg;
}

TEST(BadInput, ANulInAnEnvironmentNameIsShown) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.env_set[std::string("NA\0ME", 5)] = "v";
    auto msg = c_what(std::move(opt));
    EXPECT_TRUE(contains(msg, "environment variable name 'NA\\0ME'")) << msg;
}

TEST(BadInput, ANulInAnEnvironmentValueIsBlamedOnTheValue) {
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.env_set["GOOD_NAME"] = std::string("va\0lue", 6);
    auto msg = c_what(std::move(opt));
    EXPECT_TRUE(contains(msg, "the value of environment variable 'GOOD_NAME' ('va\\0lue') contains a NUL byte"))
        << msg;
}

TEST(BadInput, EnvSetOfTheManifestBesideNamedHandlesIsRefused) {
    for (const char* var : {tether::manifest_variable, tether::manifest_parent_variable}) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("exit_with", {"0"});
        opt.pass(std::move(theirs), "x");
        opt.env_set[var] = "x:3";
        auto msg = c_what(std::move(opt));
        EXPECT_TRUE(contains(msg, std::string("env_set sets ") + var + ", which spawn writes itself")) << msg;
    }
    // Without named handles env_set may set them (a manifest by hand; tests do).
    auto opt = tether_test::role_options("exit_with", {"0"});
    opt.env_set[tether::manifest_variable] = "x:3";
    EXPECT_TRUE(tether::spawn(std::move(opt)).wait().success());
}
