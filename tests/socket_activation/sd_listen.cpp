// A reader of systemd's socket activation that tether did not write: libsystemd's own
// sd_listen_fds_with_names(3), as a socket-activated daemon calls it. Prints "N" then, per
// descriptor, "FD NAME KIND" (KIND: socket, fifo, other), and whether the variables are gone.
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>

int main() {
    char** names = nullptr;
    int n = sd_listen_fds_with_names(1, &names);  // 1: unset the variables, as daemons do
    if (n < 0) {
        std::printf("error %d\n", -n);
        return 1;
    }
    std::printf("%d\n", n);
    for (int i = 0; i < n; ++i) {
        int fd = SD_LISTEN_FDS_START + i;
        struct stat st {};
        const char* kind = ::fstat(fd, &st) != 0 ? "closed" : S_ISSOCK(st.st_mode) ? "socket" : S_ISFIFO(st.st_mode) ? "fifo" : "other";
        std::printf("%d %s %s\n", fd, names != nullptr ? names[i] : "?", kind);
        if (names != nullptr) std::free(names[i]);
    }
    std::free(names);
    std::printf("unset %s\n", std::getenv("LISTEN_FDS") == nullptr && std::getenv("LISTEN_PID") == nullptr ? "yes" : "no");
    return 0;
}
