// Windows only: the test binary's stdout and stderr in binary mode, before main() runs.
// The C runtime's text mode would turn every "\n" a child role prints into "\r\n", and the
// shared tests compare child output byte for byte with what the role printed, as on Linux.
#include <cstdio>
#include <fcntl.h>
#include <io.h>

namespace {
[[maybe_unused]] const bool binary_stdio = [] {
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
    return true;
}();
}  // namespace
