// POSIX backend: process trees. Two ways to reach every descendant of a child
// (docs/lifetimes.md says what each guarantees):
//  - a cgroup v2 of its own, made under our own cgroup where the system lets us (a writable,
//    delegated cgroup2 hierarchy). The child enters it before exec, so every descendant is in it,
//    whatever its process group or parent; cgroup.kill ends them all at once (Linux 5.14).
//  - the fallback: the child leads a process group; the tree is frozen with SIGSTOP and walked
//    under /proc by parent id (and group id) until a pass finds no new process, then signalled.
//    It misses a descendant that left the group and whose parent had already exited.
#include "linux/tree.hpp"

#include "linux/parent_watch.hpp"
#include "testing/switches.hpp"

#include <algorithm>
#include <utility>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <poll.h>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace tether::detail {
namespace {

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

// When `pid` started (/proc/<pid>/stat, field 22, clock ticks since boot), or 0 if there is no
// such process: with the id it names one process for good, where an id alone can be reused.
unsigned long long start_time(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = s.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(s.substr(close + 1));
    std::string field;
    for (int i = 3; i < 22 && rest >> field; ++i) {
    }
    unsigned long long t = 0;
    return rest >> t ? t : 0;
}

// Our cgroups are named "tether-<pid>-<start>-<n>" (the probe "tether-probe-<pid>-<start>"):
// the owner is the process with that id and start time. Older names lack the start time; their
// owner is taken as alive while any process has the id. @returns false for a name not ours.
bool owner_gone(const std::string& name, bool& gone) {
    std::string rest;
    if (name.rfind("tether-probe-", 0) == 0) rest = name.substr(13);
    else if (name.rfind("tether-", 0) == 0) rest = name.substr(7);
    else return false;
    std::vector<unsigned long long> n;
    std::istringstream in(rest);
    for (std::string part; std::getline(in, part, '-');) {
        if (part.empty() || part.size() > 19 || part.find_first_not_of("0123456789") != std::string::npos)
            return false;
        n.push_back(std::stoull(part));
    }
    if (n.empty() || n[0] == 0 || n[0] > 0x7fffffff) return false;
    unsigned long long started = start_time(static_cast<pid_t>(n[0]));
    bool has_start = name.rfind("tether-probe-", 0) == 0 ? n.size() >= 2 : n.size() >= 3;
    gone = started == 0 || (has_start && started != n[1]);
    return true;
}

// Removes a cgroup and the cgroups a descendant made inside it (a grandchild started with a
// group of its own by our child), deepest first; the kernel refuses any that still has processes.
bool remove_cgroup(const std::string& path) {
    if (DIR* d = ::opendir(path.c_str())) {
        while (dirent* e = ::readdir(d))
            if (e->d_type == DT_DIR && e->d_name[0] != '.') remove_cgroup(path + "/" + e->d_name);
        ::closedir(d);
    }
    return ::rmdir(path.c_str()) == 0 || errno == ENOENT;
}

// A creator killed while its children had cgroups could not remove them; over a supervisor's
// restarts they would pile up. So each process, once, removes the empty tether cgroups beside
// its own whose creator is gone (the kernel refuses any that still holds a process: those stay).
void reclaim_stale(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return;
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
        bool gone = false;
        if (e->d_type == DT_DIR && owner_gone(e->d_name, gone) && gone) stale.emplace_back(e->d_name);
    }
    ::closedir(d);
    for (const auto& name : stale) remove_cgroup(dir + "/" + name);
}

// "<pid>-<start time>" of this process; read again only in a forked copy (another id).
std::string own_tag() {
    static std::mutex m;
    static pid_t pid = 0;
    static std::string tag;
    std::lock_guard lock(m);
    if (pid != ::getpid()) {
        pid = ::getpid();
        tag = std::to_string(pid) + "-" + std::to_string(start_time(pid));
    }
    return tag;
}

// Probed once: can we make (and remove) a cgroup under our own? Stale ones are reclaimed then.
const cgroup_base& base() {
    static const cgroup_base b = [] {
        cgroup_base r;
        std::string dir = own_cgroup_dir(r.why);
        if (dir.empty()) return r;
        reclaim_stale(dir);
        std::string probe = dir + "/tether-probe-" + own_tag();
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

// The last chance for queued cgroups: at exit (a cgroup whose processes outlive us stays).
void remove_pending_at_exit() { remove_pending_cgroups(); }

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

// True once cgroup.events says "populated 0": no process is left in the cgroup.
bool cgroup_empty(int events_fd) {
    char buf[256];
    ssize_t n = ::pread(events_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return true;  // cannot tell: do not wait
    buf[n] = '\0';
    return std::strstr(buf, "populated 0") != nullptr;
}

// After cgroup.kill: wait (bounded) until the kernel has taken every process out, so that the
// cgroup can be removed and kill_tree() returns with the tree gone. The kernel notifies a
// change of cgroup.events with POLLPRI.
void wait_until_empty(int dir) {
    int fd = ::openat(dir, "cgroup.events", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!cgroup_empty(fd)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLPRI, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
    ::close(fd);
}

// Not SIGKILL: freeze the cgroup and signal its members until a pass finds none new, then
// SIGCONT each of them, as the fallback does: a member stopped by SIGSTOP or job control keeps
// SIGTERM pending until it is continued, and thawing does not continue it (the freezer and the
// stop are separate states; cgroup.freeze only ever undoes its own freezing). The SIGCONT is
// sent while still frozen, so a member sees both signals once thawed. A member that was not
// stopped ignores SIGCONT by default.
int signal_cgroup(int dir, int sig) {
    if (sig == SIGKILL) {
        if (!write_at(dir, "cgroup.kill", "1")) return errno;
        wait_until_empty(dir);
        return 0;
    }
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
    if (sig != SIGCONT)
        for (pid_t p : done) ::kill(p, SIGCONT);
    if (frozen) write_at(dir, "cgroup.freeze", "0");
    return 0;
}

// Parent id and process group of `pid` from /proc/<pid>/stat (after the last ')': the name
// may hold anything). A process that ends while we read makes read() fail with ESRCH: that is
// "not there", not an error (through an ifstream it was an exception out of kill_tree, which
// then left the tree running).
bool stat_ids(pid_t pid, pid_t& ppid, pid_t& pgid) {
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[1024];  // the name is at most 16 bytes; the three fields we need follow it
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    const char* close = std::strrchr(buf, ')');
    if (close == nullptr) return false;
    char state = 0;
    return std::sscanf(close + 1, " %c %d %d", &state, &ppid, &pgid) == 3;
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

const char* cgroup_unavailable_reason() {
    if (test_switches::no_cgroup_forced()) return "forced off (test_hooks::force_no_cgroup)";
    return base().why.c_str();
}

std::string cgroup_base_path() { return *cgroup_unavailable_reason() == '\0' ? base().path : std::string(); }

bool make_child_cgroup(process_tree& tree, unique_handle& procs, std::string& why) {
    static std::atomic<unsigned> counter{0};
    why = cgroup_unavailable_reason();
    if (!why.empty()) return false;
    std::string path = base().path + "/tether-" + own_tag() + "-" + std::to_string(++counter);
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
    // A child that exited at once (a zombie is no member) may have left descendants in it:
    // while anyone is in the cgroup, it is the tree's.
    int events = ::openat(tree.cgroup_dir.get(), "cgroup.events", O_RDONLY | O_CLOEXEC);
    bool populated = events >= 0 && !cgroup_empty(events);
    if (events >= 0) ::close(events);
    if (populated) return;
    // The move was refused (permissions, a cgroup mode we do not know): use the group instead.
    forget_on_exit(std::exchange(tree.exit_watch, 0));
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
    // Removed: nothing left for the watcher. Still populated: its processes die with us.
    if (remove_cgroup(cgroup_path)) {
        forget_on_exit(exit_watch);
        return;
    }
    std::lock_guard lock(pending_mutex);
    static const bool registered = std::atexit(remove_pending_at_exit) == 0;
    (void)registered;
    pending.push_back(cgroup_path);
}

void remove_pending_cgroups() noexcept {
    std::lock_guard lock(pending_mutex);
    std::erase_if(pending, [](const std::string& p) { return remove_cgroup(p); });
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
