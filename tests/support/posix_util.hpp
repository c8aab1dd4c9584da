// Linux-only helpers for the tests: ask the kernel directly (/proc, fcntl) rather than trust
// the library under test.
#pragma once

#include <tether/handle.hpp>

#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tether_test {

/// The descriptors open in this process, from /proc/self/fd, without the directory's own.
inline std::vector<int> open_fds() {
    std::vector<int> fds;
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return fds;
    int own = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        int fd = std::atoi(e->d_name);
        if (fd != own) fds.push_back(fd);
    }
    ::closedir(d);
    std::sort(fds.begin(), fds.end());
    return fds;
}

inline std::string join(const std::vector<int>& v) {
    std::string s;
    for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
    return s;
}

/// True if `fd` is not open: fcntl(F_GETFD) fails with EBADF.
inline bool fd_closed(int fd) { return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

/// "dev:ino" of an open descriptor or path, to tell whether two refer to the same object.
inline std::string identity(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return "closed";
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

/// Our children (any thread's) that are zombies: exited but not reaped.
inline std::vector<int> zombie_children() {
    std::vector<int> zombies;
    DIR* d = ::opendir("/proc/self/task");
    if (d == nullptr) return zombies;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream children(std::string("/proc/self/task/") + e->d_name + "/children");
        int pid = 0;
        while (children >> pid) {
            std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
            std::string line;
            std::getline(stat, line);
            auto close = line.rfind(')');
            if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z')
                zombies.push_back(pid);
        }
    }
    ::closedir(d);
    return zombies;
}

/// A fresh directory under $TMPDIR (or /tmp), removed with its files by the destructor.
class temp_dir {
public:
    temp_dir() {
        const char* base = std::getenv("TMPDIR");
        std::string templ = std::string(base != nullptr ? base : "/tmp") + "/tether-test-XXXXXX";
        path_ = ::mkdtemp(templ.data()) != nullptr ? templ : std::string();
    }
    ~temp_dir() {
        for (const auto& f : files_) ::unlink(f.c_str());
        for (const auto& d : dirs_) ::rmdir(d.c_str());
        if (!path_.empty()) ::rmdir(path_.c_str());
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const { return path_; }
    /// Creates `name` with `content` and `mode`; returns its path.
    std::string file(const std::string& name, const std::string& content, mode_t mode) {
        std::string p = path_ + "/" + name;
        { std::ofstream(p) << content; }
        ::chmod(p.c_str(), mode);
        files_.push_back(p);
        return p;
    }
    std::string symlink(const std::string& name, const std::string& target) {
        std::string p = path_ + "/" + name;
        if (::symlink(target.c_str(), p.c_str()) == 0) files_.push_back(p);
        return p;
    }
    std::string subdir(const std::string& name) {
        std::string p = path_ + "/" + name;
        ::mkdir(p.c_str(), 0700);
        dirs_.push_back(p);
        return p;
    }

private:
    std::string path_;
    std::vector<std::string> files_;
    std::vector<std::string> dirs_;
};

/// Whether `h` is in non-blocking mode (O_NONBLOCK), as the kernel says.
inline bool nonblocking(tether::borrowed_handle h) { return (::fcntl(h.get(), F_GETFL) & O_NONBLOCK) != 0; }

/// Switches `h` to non-blocking mode, as a user of the descriptor might; false if fcntl failed.
inline bool make_nonblocking(tether::borrowed_handle h) {
    int flags = ::fcntl(h.get(), F_GETFL);
    return flags >= 0 && ::fcntl(h.get(), F_SETFL, flags | O_NONBLOCK) == 0;
}

}  // namespace tether_test
