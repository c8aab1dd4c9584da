// Portable: who keeps a pipe open after the child it was made for has exited. The write end
// was made for that child alone (never inheritable here), so whoever holds it now got it from
// the child: its descendant, even when re-parented.
#include "detail/held_open.hpp"

#include <tether/holders.hpp>

#include "detail/holders.hpp"

namespace tether::detail {

namespace {

// "PID 4242 `sleep 100` (fd 1), PID ...".
std::string listed(const std::vector<holder>& list, object_kind kind) {
    std::string text;
    const char* sep = " by ";
    for (const auto& h : list) {
        text += sep + ("PID " + std::to_string(h.pid) + " `" + h.command + "` (" +
                       (kind == object_kind::named_pipe ? "handle " : "fd ") + handle_text(kind, h.handle) + ")");
        sep = ", ";
    }
    return text.empty() ? " by a process we may not inspect" : text;
}

}  // namespace

stuck_pipe describe_held_open(borrowed_handle ours, std::string_view stream, const std::string& started_by) {
    stuck_pipe sp;
    sp.stream = std::string(stream);
    auto kind = object_kind::pipe;
    try {
        auto report = holders(this_process_id(), handle_to_integer(ours.get()));
        for (const auto& o : report.objects) {
            kind = o.kind;
            for (const auto& h : o.others)
                if (h.end != object_end::read && h.rel != relation::self) sp.holders.push_back(h);
        }
    } catch (const std::system_error& e) {
        sp.verdict = sp.stream + " is still held open by a process started by " + started_by + "; who: " + e.what();
        return sp;
    }
    sp.verdict = sp.stream + " is still held open" + listed(sp.holders, kind) + ", started by " + started_by +
                 (kind == object_kind::terminal ? ": only that child was given this terminal"
                                                : ": only that child was given this pipe");
    return sp;
}

}  // namespace tether::detail
