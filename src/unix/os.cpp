// Any POSIX system: process facts for the portable code (environment, ids, adopting inherited
// descriptors). The running program's path is Linux's (src/linux/os.cpp).
#include "detail/backend.hpp"

#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

extern char** environ;  // NOLINT: POSIX names it so

namespace tether {
namespace detail {

std::optional<std::string> get_environment_variable(std::string_view name) {
    const char* v = ::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
}

void unset_environment_variable(std::string_view name) { ::unsetenv(std::string(name).c_str()); }

std::vector<std::string> current_environment() {
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
    return env;
}

std::int64_t current_pid() noexcept { return ::getpid(); }
std::int64_t parent_pid() noexcept { return ::getppid(); }

bool has_descriptor_numbers() noexcept { return true; }
bool environment_names_fold_case() noexcept { return false; }

std::error_code adopt_inherited(native_handle h) noexcept {
    int flags = ::fcntl(h, F_GETFD);
    if (flags < 0) return last_os_error();
    // An inherited descriptor arrives without FD_CLOEXEC (exec keeps only those). Setting it here
    // keeps it out of our own children, so a grandchild can never hold the parent's pipe open.
    if ((flags & FD_CLOEXEC) == 0 && ::fcntl(h, F_SETFD, flags | FD_CLOEXEC) < 0) return last_os_error();
    return {};
}

std::string handle_identity(native_handle h) {
    struct stat st {};
    if (::fstat(h, &st) != 0) return {};
    char buf[40];
    std::snprintf(buf, sizeof buf, "%llx.%llx", static_cast<unsigned long long>(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    return buf;
}

std::string describe_handle(native_handle h) { return "descriptor " + std::to_string(h); }

std::string signal_name(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    return abbrev != nullptr ? std::string("SIG") + abbrev : std::string();
}

}  // namespace detail

}  // namespace tether
