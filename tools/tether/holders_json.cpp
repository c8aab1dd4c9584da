// The JSON form of a holders report, schema "tether.holders/1" (documented in docs/holders.md).
// Stable: fields are only ever added, never renamed or removed, within one schema version.
#include "commands.hpp"

#include "detail/holders_parse.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tether_cli {
namespace {

// A JSON string, always strict UTF-8: command lines are bytes, an invalid sequence becomes U+FFFD.
std::string quote(std::string_view s) { return tether::detail::json_string(s); }

std::string field(std::string_view name, const std::string& json_value) {
    return quote(name) + ": " + json_value;
}

std::string holder_json(const tether::holder& h) {
    return "{" + field("pid", std::to_string(h.pid)) + ", " + field("command", quote(h.command)) + ", " +
           field("fd", std::to_string(h.handle)) + ", " + field("handle", std::to_string(h.handle)) + ", " + field("end", quote(tether::to_string(h.end))) + ", " +
           field("relation", quote(tether::to_string(h.rel))) + ", " +
           field("generations", std::to_string(h.generations)) + "}";
}

std::string holders_array(const std::vector<tether::holder>& list) {
    std::string out = "[";
    for (std::size_t i = 0; i < list.size(); ++i)
        out += (i == 0 ? "\n        " : ",\n        ") + holder_json(list[i]);
    return out + (list.empty() ? "]" : "\n      ]");
}

std::string fds_array(const std::vector<std::int64_t>& fds) {
    std::string out = "[";
    for (std::size_t i = 0; i < fds.size(); ++i) out += (i == 0 ? "" : ", ") + std::to_string(fds[i]);
    return out + "]";
}

std::string object_json(const tether::held_object& o) {
    std::string others = holders_array(o.others);
    // "fd"/"fds"/"inode"/"peer_inode" are the schema's first names, kept (equal to "handle",
    // "handles", "object_id", "peer_object_id"; on Windows a handle value and an opaque id).
    return "{\n      " + field("fd", std::to_string(o.handle)) + ",\n      " +
           field("fds", fds_array(o.handles)) + ",\n      " +
           field("handle", std::to_string(o.handle)) + ",\n      " +
           field("handles", fds_array(o.handles)) + ",\n      " +
           field("kind", quote(tether::to_string(o.kind))) + ",\n      " +
           field("inode", std::to_string(o.object_id)) + ",\n      " +
           field("object_id", std::to_string(o.object_id)) + ",\n      " +
           field("name", quote(o.name)) + ",\n      " +
           field("end", quote(tether::to_string(o.end))) + ",\n      " + field("others", others) +
           ",\n      " + field("peer_inode", std::to_string(o.peer_object_id)) + ",\n      " +
           field("peer_object_id", std::to_string(o.peer_object_id)) + ",\n      " +
           field("peer_holders", holders_array(o.peer_holders)) + ",\n      " +
           field("read_shut_down", o.read_shut_down ? "true" : "false") + ",\n      " + field("verdict", o.verdict.empty() ? "null" : quote(o.verdict)) + "\n    }";
}

}  // namespace

std::string holders_json(const tether::holders_report& report) {
    std::string objects = "[";
    for (std::size_t i = 0; i < report.objects.size(); ++i)
        objects += (i == 0 ? "\n    " : ",\n    ") + object_json(report.objects[i]);
    objects += report.objects.empty() ? "]" : "\n  ]";
    std::string denied = "[";
    for (std::size_t i = 0; i < report.not_inspected.size(); ++i) {
        const auto& p = report.not_inspected[i];
        denied += (i == 0 ? "" : ", ") + std::string("{") + field("pid", std::to_string(p.pid)) + ", " +
                  field("name", quote(p.name)) + "}";
    }
    denied += "]";
    return "{\n  " + field("schema", quote("tether.holders/1")) + ",\n  " +
           field("pid", std::to_string(report.pid)) + ",\n  " + field("command", quote(report.command)) +
           ",\n  " + field("objects", objects) + ",\n  " +
           field("not_inspected_count", std::to_string(report.not_inspected.size())) + ",\n  " +
           field("not_inspected", denied) + "\n}\n";
}

}  // namespace tether_cli
