// Portable: describe() of a holders report — the aligned table that `tether holders` prints,
// its headline and the verdicts under it. The verdicts themselves are written once, when the
// report is finished (src/holders_common.cpp); this file only lays them out.
#include <tether/holders.hpp>

#include "detail/holders.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace tether {
namespace {

using row = std::vector<std::string>;

// Pads every column but the last to its widest cell; numbers (first cells) are right-aligned.
std::string render_table(const std::vector<row>& rows, const std::vector<bool>& right) {
    std::vector<std::size_t> width;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        std::string line = " ";
        for (std::size_t i = 0; i < r.size(); ++i) {
            bool last = i + 1 == r.size();
            std::string pad(width[i] - r[i].size(), ' ');
            line += " ";
            line += right[i] ? pad + r[i] : (last ? r[i] : r[i] + pad);
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

// The FD cell of an object's first row: "5", or "5 (+9,999 copies)".
std::string fd_cell(const held_object& o) {
    std::string cell = detail::handle_text(o.kind, o.handle);
    if (o.handles.size() > 1)
        cell += " (+" + detail::grouped_number(o.handles.size() - 1) + (o.handles.size() == 2 ? " copy)" : " copies)");
    return cell;
}

// The OBJECT cell: "pipe:[81234]", "socket:[81235]", a named pipe's name (or "#3").
std::string object_cell(const held_object& o) {
    switch (o.kind) {
        case object_kind::pipe: return "pipe:[" + std::to_string(o.object_id) + "]";
        case object_kind::unix_socket: return "socket:[" + std::to_string(o.object_id) + "]";
        case object_kind::terminal: return "/dev/pts/" + std::to_string(o.object_id);
        case object_kind::named_pipe: break;
    }
    return o.name.empty() ? "named_pipe:#" + std::to_string(o.object_id) : o.name;
}

// One table row per other holder, at most max_listed_fds per process and list, then one row
// that counts the rest; a socket's peer holders follow with END "peer".
void add_object_rows(std::vector<row>& rows, const held_object& o) {
    row first{fd_cell(o), object_cell(o), to_string(o.end), "|"};
    if (o.others.empty() && o.peer_holders.empty()) {
        first.insert(first.end(), {"", "", "", "", "(no other holder)"});
        rows.push_back(first);
        return;
    }
    bool first_done = false;
    auto next_row = [&] {
        row r = first_done ? row{"", "", "", "|"} : first;
        first_done = true;
        return r;
    };
    auto add_list = [&](const std::vector<holder>& list, bool peer) {
        for (std::size_t i = 0; i < list.size();) {
            std::size_t j = i;
            while (j < list.size() && list[j].pid == list[i].pid) ++j;  // one process: [i, j)
            for (std::size_t k = i; k < std::min(j, i + detail::max_listed_fds); ++k) {
                const holder& h = list[k];
                row r = next_row();
                r.insert(r.end(), {std::to_string(h.pid), detail::handle_text(o.kind, h.handle), peer ? "peer" : to_string(h.end),
                                   detail::short_relation(h.rel, h.generations), detail::shorten(h.command)});
                rows.push_back(r);
            }
            if (j - i > detail::max_listed_fds) {
                row r = next_row();
                r.insert(r.end(), {"", "", "", "", "... and " + detail::grouped_number(j - i - detail::max_listed_fds) +
                                                       (o.kind == object_kind::named_pipe ? " more handles in PID " : " more descriptors in PID ") +
                                                       std::to_string(list[i].pid)});
                rows.push_back(r);
            }
            i = j;
        }
    };
    add_list(o.others, false);
    add_list(o.peer_holders, true);
}

std::vector<row> table_rows(const holders_report& report) {
    bool win = std::any_of(report.objects.begin(), report.objects.end(),
                           [](const held_object& o) { return o.kind == object_kind::named_pipe; });
    const char* h = win ? "HANDLE" : "FD";
    std::vector<row> rows{{h, "OBJECT", "END", "|", "PID", h, "END", "RELATION", "COMMAND"}};
    for (const auto& o : report.objects) add_object_rows(rows, o);
    return rows;
}

std::string not_inspected_line(const holders_report& report) {
    const auto& list = report.not_inspected;
    std::string s = "Not inspected (permission denied): " + std::to_string(list.size()) +
                    (list.size() == 1 ? " process:" : " processes:");
    for (std::size_t i = 0; i < list.size(); ++i)
        s += (i == 0 ? " " : ", ") + std::to_string(list[i].pid) + " (" + list[i].name + ")";
    return s + "\n";
}

// "PID 4242 `cat` holds 2 pipe ends and 1 Unix socket".
std::string headline(const holders_report& report) {
    std::size_t pipes = 0;
    bool win = false;
    for (const auto& o : report.objects) {
        pipes += o.kind != object_kind::unix_socket ? 1 : 0;
        win = win || o.kind == object_kind::named_pipe;
    }
    std::size_t sockets = report.objects.size() - pipes;
    std::string out = "PID " + std::to_string(report.pid) + " `" + detail::shorten(report.command) + "` holds " +
                      std::to_string(pipes) + (win ? " named pipe end" : " pipe end") + (pipes == 1 ? "" : "s");
    if (win && sockets == 0) return out + "\n";
    return out + " and " + std::to_string(sockets) + (sockets == 1 ? " Unix socket" : " Unix sockets") + "\n";
}

}  // namespace

std::string describe(const holders_report& report) {
    std::string out = headline(report);
    // Numbers (FD, PID, FD) right-aligned, words left-aligned.
    const std::vector<bool> right{true, false, false, false, true, true, false, false, false};
    if (!report.objects.empty()) out += "\n" + render_table(table_rows(report), right);
    bool any_verdict = false;
    for (const auto& o : report.objects) {
        if (o.verdict.empty()) continue;
        out += (any_verdict ? "" : "\n") + std::string("  ") + o.verdict + "\n";
        any_verdict = true;
    }
    if (!report.not_inspected.empty()) out += "\n" + not_inspected_line(report);
    return out;
}

}  // namespace tether
