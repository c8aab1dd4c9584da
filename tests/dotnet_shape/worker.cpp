// The "./worker" of the README's .NET-shape snippet (tests/dotnet_shape_test.cpp runs it): opens
// every handle string on its command line as the write end of a pipe, as
// `new AnonymousPipeClientStream(PipeDirection.Out, args[i])` would, and writes one line into
// each that names this process and the argument, so the parent can tell whose line reached
// which pipe.
#include <tether/pipe.hpp>

#include "detail/backend.hpp"

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    try {
        for (int i = 1; i < argc; ++i) {
            tether::pipe_client log(tether::direction::out, argv[i]);
            log.write("worker " + std::to_string(tether::detail::current_pid()) + ": argument " +
                      std::to_string(i) + "\n");
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "worker: %s\n", e.what());
        return 1;
    }
}
