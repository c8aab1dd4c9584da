// peer_child — the one child program of every peer benchmark (bench/peers/PROTOCOL.md).
// Plain POSIX, no tether, so every system spawns the same thing:
//
//     peer_child stream BYTES CHUNK   writes BYTES to stdout in CHUNK-byte writes, exits 0
//     peer_child drain                reads stdin to EOF, exits 0
//     peer_child echo                 writes each read of stdin back at once, until EOF
//     peer_child sleep                writes "r" to stdout, then pause()s until killed
//     peer_child linger MS            sleeps MS milliseconds, exits 0
//     peer_child fds                  prints how many descriptors above 2 it has, exits 0
//     peer_child sink                 reads stdin; writes "a" after every 6,400,000 bytes; exits 0 at EOF
//     peer_child exit                 exits 0 at once
//
// Any failure (a short count, a write error) exits 1 with a message on stderr.
#include "peer_common.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace {

[[noreturn]] void die(const char* mode, const char* what) {
    std::fprintf(stderr, "peer_child %s: %s: %s\n", mode, what, std::strerror(errno));
    std::exit(1);
}

std::uint64_t number(const char* mode, const char* text) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        std::fprintf(stderr, "peer_child %s: '%s' is not a number\n", mode, text);
        std::exit(2);
    }
    return v;
}

// write() until all of [p, p + n) is out; EINTR is retried.
void write_all(const char* mode, int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            die(mode, "write");
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

// One read(); 0 is end-of-file.
std::size_t read_some(const char* mode, int fd, char* p, std::size_t n) {
    for (;;) {
        ssize_t r = ::read(fd, p, n);
        if (r >= 0) {
            return static_cast<std::size_t>(r);
        }
        if (errno != EINTR) {
            die(mode, "read");
        }
    }
}

int stream(std::uint64_t bytes, std::uint64_t chunk) {
    if (chunk == 0 || chunk > (std::uint64_t{1} << 30)) {
        std::fprintf(stderr, "peer_child stream: CHUNK must be 1 .. 1 GiB\n");
        return 2;
    }
    std::vector<char> buf(static_cast<std::size_t>(chunk), 'x');
    while (bytes > 0) {
        auto n = static_cast<std::size_t>(bytes < chunk ? bytes : chunk);
        write_all("stream", 1, buf.data(), n);
        bytes -= n;
    }
    return 0;
}

// The consumer is the same for every system; it discards with splice into /dev/null (no copy),
// so `forward` measures the forwarder's cost, not the consumer's. Stdin not a pipe: read().
int drain() {
    int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    for (ssize_t n; null_fd >= 0 && (n = ::splice(0, nullptr, null_fd, nullptr, 1 << 20, SPLICE_F_MOVE)) != 0;) {
        if (n > 0) continue;
        if (errno == EINTR) continue;
        if (errno != EINVAL) {
            std::fprintf(stderr, "peer_child drain: splice: %s\n", std::strerror(errno));
            return 1;
        }
        break;  // stdin is no pipe: read it
    }
    if (null_fd >= 0) ::close(null_fd);
    std::vector<char> buf(peer::read_size);
    while (read_some("drain", 0, buf.data(), buf.size()) > 0) {
    }
    return 0;
}

int echo() {
    std::vector<char> buf(peer::read_size);
    for (;;) {
        std::size_t n = read_some("echo", 0, buf.data(), buf.size());
        if (n == 0) {
            return 0;
        }
        write_all("echo", 1, buf.data(), n);
    }
}

int sleep_until_killed() {
    write_all("sleep", 1, "r", 1);
    for (;;) {
        pause();
    }
}

int linger(std::uint64_t ms) {
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
        if (errno != EINTR) {
            die("linger", "nanosleep");
        }
    }
    return 0;
}

int fds() {
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) {
        die("fds", "opendir /proc/self/fd");
    }
    int own = dirfd(d);
    long count = 0;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') {
            continue;
        }
        long fd = std::strtol(e->d_name, nullptr, 10);
        if (fd > 2 && fd != own) {
            ++count;
        }
    }
    closedir(d);
    std::printf("%ld\n", count);
    return std::fflush(stdout) == 0 ? 0 : 1;
}

int sink() {
    std::vector<char> buf(peer::read_size);
    std::uint64_t since_ack = 0;
    for (;;) {
        std::size_t n = read_some("sink", 0, buf.data(), buf.size());
        if (n == 0) {
            return 0;
        }
        since_ack += n;
        while (since_ack >= peer::sink_ack_bytes) {
            since_ack -= peer::sink_ack_bytes;
            write_all("sink", 1, "a", 1);
        }
    }
}

int usage() {
    std::fprintf(stderr,
                 "usage: peer_child stream BYTES CHUNK | drain | echo | sleep | linger MS | fds | sink | exit\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        return usage();
    }
    std::string_view mode = argv[1];
    if (mode == "stream" && argc == 4) {
        return stream(number("stream", argv[2]), number("stream", argv[3]));
    }
    if (mode == "linger" && argc == 3) {
        return linger(number("linger", argv[2]));
    }
    if (argc != 2) {
        return usage();
    }
    if (mode == "drain") {
        return drain();
    }
    if (mode == "echo") {
        return echo();
    }
    if (mode == "sleep") {
        return sleep_until_killed();
    }
    if (mode == "fds") {
        return fds();
    }
    if (mode == "sink") {
        return sink();
    }
    if (mode == "exit") {
        return 0;
    }
    return usage();
}
