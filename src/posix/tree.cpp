// POSIX backend: process trees. Two ways to reach every descendant of a child
// (docs/lifetimes.md says what each guarantees):
//  - a cgroup v2 of its own, made under our own cgroup where the system lets us (a writable,
//    delegated cgroup2 hierarchy). The child enters it before exec, so every descendant is in it,
//    whatever its process group or parent; cgroup.kill ends them all at once (Linux 5.14).
//  - the fallback: the child leads a process group; the tree is frozen with SIGSTOP and walked
//    under /proc by parent id (and group id) until a pass finds no new process, then signalled.
//    It misses a descendant that left the group and whose parent had already exited.
#include "posix/tree.hpp"

#include "posix/knobs.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace tether::detail {
namespace {

std::atomic<bool> no_cgroup_forced{false};

struct cgroup_base {
    std::string path;  // our own cgroup v2 directory, or empty
    std::string why;   // why it cannot be used
};

// Our cgroup: the "0::/path" line of /proc/self/cgroup, under the cgroup2 mount (mountinfo).
std::string own_cgroup_dir(std::string& why) {
    std::ifstream self("/proc/self/cgroup");
    std::string line, rel;
    while (std::getline(self, line))
        if (line.rfind("0::", 0) == 0) rel = line.substr(3);
    if (rel.empty()) return why = "no cgroup v2 hierarchy (no 0:: line in /proc/self/cgroup)", "";
    std::ifstream mounts("/proc/self/mountinfo");
    while (std::getline(mounts, line)) {
        auto dash = line.find(" - ");
        if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
        std::istringstream f(line.substr(0, dash));
        std::string id, parent, dev, root, point;
        f >> id >> parent >> dev >> root >> point;
        if (root != "/" && rel.rfind(root, 0) == 0) rel = rel.substr(root.size());
        return point + (rel == "/" ? "" : rel);
    }
    return why = "no cgroup2 file system is mounted", "";
}

// Probed once: can we make (and remove) a cgroup under our own?
const cgroup_base& base() {
    static const cgroup_base b = [] {
        cgroup_base r;
        std::string dir = own_cgroup_dir(r.why);
        if (dir.empty()) return r;
        std::string probe = dir + "/tether-probe-" + std::to_string(::getpid());
        if (::mkdir(probe.c_str(), 0755) != 0) {
            r.why = "cannot create a cgroup under " + dir + ": " + std::strerror(errno);
            return r;
        }
        bool killable = ::access((probe + "/cgroup.kill").c_str(), W_OK) == 0;
        ::rmdir(probe.c_str());
        if (!killable) return r.why = "the kernel has no cgroup.kill (Linux < 5.14)", r;
        r.path = dir;
        return r;
    }();
    return b;
}

std::mutex pending_mutex;
std::vector<std::string> pending;  // cgroups still holding processes when their child went

bool write_at(int dir, const char* file, const char* text) {
    int fd = ::openat(dir, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::write(fd, text, std::strlen(text)) >= 0;
    ::close(fd);
    return ok;
}

std::vector<pid_t> cgroup_members(int dir) {
    std::vector<pid_t> out;
    int fd = ::openat(dir, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    std::istringstream in(text);
    for (pid_t p; in >> p;) out.push_back(p);
    return out;
}

bool contains(const std::vector<pid_t>& v, pid_t p) { return std::find(v.begin(), v.end(), p) != v.end(); }

// Not SIGKILL: freeze the cgroup and signal its members until a pass finds none new.
int signal_cgroup(int dir, int sig) {
    if (sig == SIGKILL) return write_at(dir, "cgroup.kill", "1") ? 0 : errno;
    bool frozen = write_at(dir, "cgroup.freeze", "1");
    std::vector<pid_t> done;
    for (bool more = true; more;) {
        more = false;
        for (pid_t p : cgroup_members(dir))
            if (!contains(done, p)) {
                ::kill(p, sig);
                done.push_back(p);
                more = true;
            }
    }
    if (frozen) write_at(dir, "cgroup.freeze", "0");
    return 0;
}

// Parent id and process group of `pid` from /proc/<pid>/stat (after the last ')': the name
// may hold anything).
bool stat_ids(pid_t pid, pid_t& ppid, pid_t& pgid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = s.rfind(')');
    if (close == std::string::npos) return false;
    char state = 0;
    return std::sscanf(s.c_str() + close + 1, " %c %d %d", &state, &ppid, &pgid) == 3;
}

// One pass over /proc: stops and records every process whose parent is known or that is in
// the child's group. @returns whether it found any new one.
bool collect_pass(pid_t leader, std::vector<pid_t>& known) {
    DIR* d = ::opendir("/proc");
    if (d == nullptr) return false;
    bool found = false;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        long v = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0') continue;
        auto p = static_cast<pid_t>(v);
        pid_t ppid = 0, pgid = 0;
        if (contains(known, p) || !stat_ids(p, ppid, pgid)) continue;
        if (!contains(known, ppid) && pgid != leader) continue;
        ::kill(p, SIGSTOP);  // a stopped process cannot fork while we look further
        known.push_back(p);
        found = true;
    }
    ::closedir(d);
    return found;
}

int signal_by_walk(pid_t pid, int sig) {
    ::kill(-pid, SIGSTOP);
    ::kill(pid, SIGSTOP);
    std::vector<pid_t> known{pid};
    while (collect_pass(pid, known)) {
    }
    ::kill(-pid, sig);
    for (pid_t p : known) ::kill(p, sig);
    if (sig != SIGKILL) {
        ::kill(-pid, SIGCONT);  // so that each sees the signal
        for (pid_t p : known) ::kill(p, SIGCONT);
    }
    return 0;
}

}  // namespace

void force_no_cgroup(bool on) noexcept { no_cgroup_forced.store(on); }

const char* cgroup_unavailable_reason() {
    if (no_cgroup_forced.load()) return "forced off (force_no_cgroup)";
    return base().why.c_str();
}

bool make_child_cgroup(process_tree& tree, unique_handle& procs, std::string& why) {
    static std::atomic<unsigned> counter{0};
    why = cgroup_unavailable_reason();
    if (!why.empty()) return false;
    std::string path = base().path + "/tether-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    if (::mkdir(path.c_str(), 0755) != 0) return why = "mkdir " + path + ": " + std::strerror(errno), false;
    int dir = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dir < 0 ? -1 : ::openat(dir, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        why = "open " + path + "/cgroup.procs: " + std::strerror(errno);
        if (dir >= 0) ::close(dir);
        ::rmdir(path.c_str());
        return false;
    }
    tree.cgroup_path = std::move(path);
    tree.cgroup_dir.reset(dir);
    procs.reset(fd);
    return true;
}

void confirm_cgroup(process_tree& tree, pid_t pid) {
    if (tree.cgroup_path.empty() || contains(cgroup_members(tree.cgroup_dir.get()), pid)) return;
    // The move was refused (permissions, a cgroup mode we do not know): use the group instead.
    tree.cgroup_dir.reset();
    ::rmdir(tree.cgroup_path.c_str());
    tree.cgroup_path.clear();
}

int signal_tree(const process_tree& tree, pid_t pid, bool reaped, int sig) {
    if (tree.cgroup_dir) return signal_cgroup(tree.cgroup_dir.get(), sig);
    if (reaped) return 0;  // the group id may be someone else's now: documented no-op
    return signal_by_walk(pid, sig);
}

process_tree::~process_tree() {
    if (cgroup_path.empty()) return;
    cgroup_dir.reset();
    if (::rmdir(cgroup_path.c_str()) == 0 || errno == ENOENT) return;
    std::lock_guard lock(pending_mutex);
    pending.push_back(cgroup_path);
}

void remove_pending_cgroups() noexcept {
    std::lock_guard lock(pending_mutex);
    std::erase_if(pending, [](const std::string& p) { return ::rmdir(p.c_str()) == 0 || errno == ENOENT; });
}

namespace {
// The spawner thread's mailbox. Never destroyed: the thread outlives every static destructor.
struct spawner {
    std::mutex serial;  // one request at a time
    std::mutex m;
    std::condition_variable cv;
    void (*fn)(void*){nullptr};
    void* arg{nullptr};
    bool done{false};

    void loop() {
        sigset_t all;
        ::sigfillset(&all);
        ::pthread_sigmask(SIG_BLOCK, &all, nullptr);  // no handler of ours runs here
        std::unique_lock lock(m);
        for (;;) {
            cv.wait(lock, [&] { return fn != nullptr; });
            fn(arg);
            fn = nullptr;
            done = true;
            cv.notify_all();
        }
    }
};

spawner& the_spawner() {
    static spawner* s = [] {
        auto* p = new spawner;  // NOLINT: deliberately never freed (lives as long as the process)
        std::thread([p] { p->loop(); }).detach();
        return p;
    }();
    return *s;
}
}  // namespace

void run_on_spawner_thread(void (*fn)(void*), void* arg) {
    auto& s = the_spawner();
    std::lock_guard one(s.serial);
    std::unique_lock lock(s.m);
    s.fn = fn;
    s.arg = arg;
    s.done = false;
    s.cv.notify_all();
    s.cv.wait(lock, [&] { return s.done; });
}

}  // namespace tether::detail
