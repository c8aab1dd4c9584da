// A spawn that must fail and give back every handle it was given.
#include "support/harness.hpp"

#include <gtest/gtest.h>

namespace tether_test {

void expect_spawn_fails_keeping_handles(tether::spawn_options& opt, std::error_code code, std::string_view says) {
    ASSERT_FALSE(opt.handles.empty()) << "the options pass no handle to check";
    auto value = opt.handles[0].h.get();
    auto count = opt.handles.size();
    std::error_code ec;
    std::string message;
    auto c = tether::spawn(std::move(opt), ec, message);
    EXPECT_FALSE(c);
    EXPECT_TRUE(ec == code || ec == code.default_error_condition()) << ec.message() << ": " << message;
    EXPECT_TRUE(contains(message, says)) << message;
    ASSERT_EQ(opt.handles.size(), count);  // NOLINT(bugprone-use-after-move): a failed spawn keeps them
    EXPECT_EQ(opt.handles[0].h.get(), value);
    EXPECT_TRUE(is_open(value));
}

}  // namespace tether_test
