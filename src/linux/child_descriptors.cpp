// Linux: the child's descriptors. Each stdio stream and passed handle is moved to its number
// in an order that needs no number above the targets (a tight RLIMIT_NOFILE still works), and
// the gaps below the highest target are listed for the child to close.
#include <tether/error.hpp>

#include "linux/launch_state.hpp"
#include "linux/process.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace tether::detail {
namespace {

std::error_code os_error(std::string& what, std::string text) {
    auto ec = last_os_error();
    what = std::move(text);
    return ec;
}

std::error_code open_null(launch_state& p, std::string& what) {
    if (p.null_dev) return {};
    int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) return os_error(what, "open /dev/null");
    p.null_dev.reset(fd);
    return {};
}

// One terminal for every stream that asks (validate_spawn_options made their sizes agree).
std::error_code open_terminal(const stdio& s, launch_state& p, std::string& what) {
    if (p.terminal) return {};
    std::error_code ec;
    std::string step;
    p.terminal = terminal_create({static_cast<std::uint16_t>(s.cols), static_cast<std::uint16_t>(s.rows)}, ec, step);
    if (!p.terminal) what = "cannot make the child's terminal: " + step;
    return ec;
}

// A detached child gets the null device for the streams left as ours: it outlives our terminal.
stdio::kind effective_kind(const stdio& s, bool detached) {
    return detached && s.how == stdio::kind::inherit ? stdio::kind::null : s.how;
}


// The source descriptor for stdio stream `target` (0, 1, 2), or -1 to leave it as ours.
std::error_code stdio_source(const stdio& s, int target, launch_state& p, int& src, std::string& what) {
    src = -1;
    switch (effective_kind(s, p.detached)) {
        case stdio::kind::inherit: return {};
        case stdio::kind::to_stdout: src = 1; return {};  // dup2(1, 2) after stdout is in place
        case stdio::kind::handle:
            src = s.h.get();
            if (::fcntl(src, F_GETFD) < 0)
                return os_error(what, std::string(stream_name(target)) + " is stdio::from() descriptor " +
                                          std::to_string(src) + ", which is not open");
            return {};
        case stdio::kind::null:
            if (auto ec = open_null(p, what)) return ec;
            src = p.null_dev.get();
            return {};
        case stdio::kind::terminal:
            if (auto ec = open_terminal(s, p, what)) return ec;
            src = p.terminal->slave.get();
            return {};
        case stdio::kind::pipe: {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0)
                return os_error(what, std::string("cannot create the pipe for ") + stream_name(target));
            bool child_reads = target == 0;
            detail::set_pipe_capacity(fds[0], s.capacity);
            p.parent_stdio[target].reset(child_reads ? fds[1] : fds[0]);
            p.child_stdio_pipe[target].reset(child_reads ? fds[0] : fds[1]);
            src = p.child_stdio_pipe[target].get();
            return {};
        }
    }
    return {};
}


// A target number at or above RLIMIT_NOFILE cannot exist in the child (dup2 would fail there
// with EBADF): that is the descriptor limit, reported as EMFILE naming both numbers. Below it
// every target works: the moves need no number above the targets (order_moves).
std::error_code check_target_limit(const std::vector<int>& child_fds, std::string& what) {
    if (child_fds.empty()) return {};  // no target number to check: spare the system call
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return {};
    for (int fd : child_fds) {
        if (static_cast<rlim_t>(fd) >= lim.rlim_cur) {
            what = "child descriptor " + std::to_string(fd) + " is at or above the descriptor limit " +
                   std::to_string(lim.rlim_cur) + " (RLIMIT_NOFILE): the child cannot hold it";
            return {EMFILE, std::system_category()};
        }
    }
    return {};
}

// Pending move i can be made now: no other pending move still reads its target.
bool target_free(const std::vector<exec_request::dup_step>& moves, const std::vector<bool>& pending, std::size_t i) {
    for (std::size_t j = 0; j < moves.size(); ++j)
        if (j != i && pending[j] && moves[j].how == exec_request::dup_step::kind::move && moves[j].from == moves[i].to)
            return false;
    return true;
}


}  // namespace

const char* stream_name(int target) { return target == 0 ? "stdin" : target == 1 ? "stdout" : "stderr"; }

// Numbers passed handles get in the child: the caller's choice, else the next free from 3.
std::vector<int> assign_child_fds(const spawn_options& opt) {
    std::vector<int> taken;
    for (const auto& h : opt.handles)
        if (h.child_fd >= 0) taken.push_back(h.child_fd);
    std::vector<int> out;
    int next = 3;
    for (const auto& h : opt.handles) {
        if (h.child_fd >= 0) {
            out.push_back(h.child_fd);
            continue;
        }
        while (std::find(taken.begin(), taken.end(), next) != taken.end()) ++next;
        taken.push_back(next);
        out.push_back(next++);
    }
    return out;
}

std::string passed_name(const spawn_options& opt, std::size_t i) {
    std::string which = "passed handle #" + std::to_string(i + 1);
    if (!opt.handles[i].name.empty()) which += " ('" + opt.handles[i].name + "')";
    return which;
}

std::error_code plan_descriptors(const spawn_options& opt, const std::vector<int>& child_fds, launch_state& p,
                                 std::string& what) {
    if (auto ec = check_target_limit(child_fds, what)) return ec;
    for (int fd : child_fds) p.max_target = std::max(p.max_target, fd);
    const stdio* streams[3] = {&opt.in, &opt.out, &opt.err};
    for (int target = 0; target < 3; ++target) {
        int src = -1;
        if (auto ec = stdio_source(*streams[target], target, p, src, what)) return ec;
        if (src < 0) continue;
        bool into_stdout = streams[target]->how == stdio::kind::to_stdout;
        bool stdout_inherited = effective_kind(opt.out, p.detached) == stdio::kind::inherit;
        // Into a redirected stdout: the same source as stdout's (the moves read the numbers as
        // they were before any move). Into an inherited stdout: our fd 1 may be one of our own
        // close-on-exec descriptors (stdout was closed); the child then closes 2 rather than
        // receive it.
        if (into_stdout && !stdout_inherited)
            for (const auto& d : p.dups)
                if (d.to == 1) src = d.from;
        p.dups.push_back({src, target, into_stdout && stdout_inherited});
    }
    for (std::size_t i = 0; i < opt.handles.size(); ++i) {
        int src = opt.handles[i].h.get();
        std::string which = passed_name(opt, i);
        if (::fcntl(src, F_GETFD) < 0)
            return os_error(what, which + " (descriptor " + std::to_string(src) + ") is not open");
        p.dups.push_back({src, child_fds[i]});
    }
    return {};
}

// Numbers between 3 and the highest target that are not targets: closed in the child one by
// one (a pass_at(10) leaves 3..9 to clean); everything above the highest target goes by
// close_range there.
void plan_closes(launch_state& p) {
    for (int fd = 3; fd < p.max_target; ++fd) {
        bool target = std::any_of(p.dups.begin(), p.dups.end(), [&](const exec_request::dup_step& d) { return d.to == fd; });
        if (!target) p.closes.push_back(fd);
    }
}

// The moves (all targets distinct) as a sequence the child runs in order, with no number
// needed above the targets: a move is made only when no later move still reads its target; a
// source already at its target just loses close-on-exec (dup2 onto itself would keep it). When
// every pending move waits for another, they form cycles (each number has one writer): the
// first one's target is saved to a temporary (the lowest free number, in the child), its
// readers read that, and the cycle unwinds; the temporary is closed after its last reader.
void order_moves(launch_state& p) {
    using kind = exec_request::dup_step::kind;
    std::vector<exec_request::dup_step> moves = p.dups;
    std::vector<bool> pending(moves.size(), true);
    std::size_t left = moves.size();
    auto emit = [&](exec_request::dup_step d, std::size_t origin) {
        p.steps.push_back(d);
        p.step_origin.push_back(origin);
    };
    while (left > 0) {
        bool progress = false;
        for (std::size_t i = 0; i < moves.size(); ++i) {
            if (!pending[i]) continue;
            auto& m = moves[i];
            bool self = m.how == kind::move && m.from == m.to;
            if (!self && !target_free(moves, pending, i)) continue;
            emit(self ? exec_request::dup_step{m.from, m.to, m.only_if_inheritable, kind::keep} : m, i);
            pending[i] = false;
            --left;
            progress = true;
            bool reader_left = false;
            for (std::size_t j = 0; j < moves.size(); ++j) reader_left |= pending[j] && moves[j].how == kind::from_saved;
            if (m.how == kind::from_saved && !reader_left) emit({-1, -1, false, kind::drop_saved}, i);
        }
        if (progress) continue;
        auto first = static_cast<std::size_t>(std::find(pending.begin(), pending.end(), true) - pending.begin());
        int saved = moves[first].to;
        emit({saved, -1, false, kind::save}, first);
        for (std::size_t j = 0; j < moves.size(); ++j)
            if (pending[j] && moves[j].how == kind::move && moves[j].from == saved) moves[j].how = kind::from_saved;
    }
}

}  // namespace tether::detail
