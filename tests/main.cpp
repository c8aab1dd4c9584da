// Entry point of the one test binary: a child role if asked for, GoogleTest otherwise.
#include "support/harness.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>

namespace tether_test {

namespace {
std::map<std::string, role_fn>& roles() {
    static std::map<std::string, role_fn> r;
    return r;
}
}  // namespace

bool register_role(const char* name, role_fn fn) {
    roles()[name] = fn;
    return true;
}

tether::spawn_options role_options(const std::string& role, const std::vector<std::string>& args) {
    tether::spawn_options opt;
    opt.argv = {tether::current_executable_path(), "--role", role};
    opt.argv.insert(opt.argv.end(), args.begin(), args.end());
    return opt;
}

std::string output_of(tether::spawn_options opt) {
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto text = tether::take_stdout_text(c);
    auto st = c.wait();
    EXPECT_TRUE(st.success()) << st.describe() << "\n" << text;
    return text;
}

captured run_captured(std::vector<std::string> argv) {
    using namespace std::chrono_literals;
    tether::spawn_options opt;
    opt.argv = std::move(argv);
    opt.out = tether::stdio::pipe();
    opt.err = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto err_pipe = c.take_stderr();
    captured r;
    std::error_code ec;
    r.out = tether::read_to_end_for(c.take_stdout(), 60s, ec);
    r.err = tether::read_to_end_for(err_pipe, 60s, ec);
    auto st = c.wait();
    r.code = st.exited() ? st.code : 128 + st.code;
    return r;
}

tether::child spawn_with_channel(const std::string& role, tether::unique_handle&& theirs,
                                 const std::vector<std::string>& args) {
    auto opt = role_options(role, args);
    opt.pass(std::move(theirs), "control");
    return tether::spawn(std::move(opt));
}

bool is_open(tether::native_handle h) {
    try {
        (void)tether::is_inheritable(tether::borrowed_handle(h));
        return true;
    } catch (const std::system_error&) {
        return false;
    }
}

}  // namespace tether_test

int main(int argc, char** argv) {
    if (argc >= 3 && std::strcmp(argv[1], "--role") == 0) {
        auto it = tether_test::roles().find(argv[2]);
        if (it == tether_test::roles().end()) {
            std::fprintf(stderr, "tether_tests: unknown role '%s'\n", argv[2]);
            return 120;
        }
        std::vector<std::string> args(argv + 3, argv + argc);
        return it->second(args);
    }
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
