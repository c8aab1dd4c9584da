// A consumer of tether, built by scripts/consumer-tests.sh against the installed tree
// (find_package, pkg-config), the installed Debian packages, add_subdirectory and FetchContent.
// It does not ask for C++20 itself: that must come from tether (a usage requirement of
// tether::tether, -std=c++20 in tether.pc). It runs the README's .NET shape with two servers
// and checks that each line reached its own pipe.
#include <tether/tether.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

namespace {

int worker(int argc, char** argv) {
    for (int i = 2; i < argc; ++i) {
        tether::pipe_client log(tether::direction::out, argv[i]);
        log.write("line for pipe " + std::to_string(i - 1) + "\n");
    }
    return 0;
}

int parent() {
    tether::pipe_server first(tether::direction::in);
    tether::pipe_server second(tether::direction::in);
    tether::spawn_options opt;
    opt.argv = {tether::current_executable_path(), "--worker", first.client_handle_string(),
                second.client_handle_string()};
    opt.pass(first.take_client_handle());
    opt.pass(second.take_client_handle());
    tether::child child = tether::spawn(std::move(opt));
    std::string a = first.read_to_end();
    std::string b = second.read_to_end();
    tether::exit_status st = child.wait();
    if (a != "line for pipe 1\n" || b != "line for pipe 2\n" || !st.success()) {
        std::fprintf(stderr, "consumer: wrong: first pipe '%s', second pipe '%s', worker %s\n", a.c_str(),
                     b.c_str(), st.describe().c_str());
        return 1;
    }
    if (std::strcmp(tether::library_version(), TETHER_VERSION_STRING) != 0) {
        std::fprintf(stderr, "consumer: headers %s, library %s\n", TETHER_VERSION_STRING,
                     tether::library_version());
        return 1;
    }
    std::printf("consumer: tether %s, .NET shape with two servers: ok\n", tether::library_version());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc > 1 && std::strcmp(argv[1], "--worker") == 0) return worker(argc, argv);
        return parent();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
}
