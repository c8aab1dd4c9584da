// The tether command-line tool (placeholder entry point; subcommands are added per issue).
#include <tether/tether.hpp>

#include <cstdio>

int main() {
    std::puts("tether: no command yet");
    return 0;
}
