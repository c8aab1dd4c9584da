// Portable: the child's side of the manifest (tether::inherited).
#include "detail/manifest.hpp"
#include "detail/os.hpp"

#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include <algorithm>
#include <mutex>
#include <set>

namespace tether {
namespace {

// Names already taken: a handle is owned once, so a second inherited("x") is an error
// rather than a second owner that would close the same descriptor twice.
std::mutex taken_mutex;
std::set<std::string> taken_names;

std::error_code read_manifest(std::vector<detail::manifest_entry>& out) {
    auto text = detail::get_environment_variable(manifest_variable);
    if (!text) return errc::no_manifest;
    // The manifest is for the direct child of the process that wrote it; a grandchild that
    // inherited the environment must not act on descriptor numbers that are not its own.
    // Our own pid (written by the child before exec, POSIX) decides when present: it survives
    // the spawner's exit. Otherwise the spawner's pid must be our parent's.
    if (auto self = detail::get_environment_variable(manifest_pid_variable)) {
        auto pid = detail::parse_pid(*self);
        if (!pid || *pid != detail::current_pid()) return errc::no_manifest;
    } else {
        auto parent = detail::get_environment_variable(manifest_parent_variable);
        auto pid = parent ? detail::parse_pid(*parent) : std::nullopt;
        if (!pid || *pid != detail::parent_pid()) return errc::no_manifest;
    }
    return detail::parse_manifest(*text, out);
}

std::string names_of(const std::vector<detail::manifest_entry>& entries) {
    std::string s;
    for (const auto& e : entries) s += (s.empty() ? "" : ", ") + e.name;
    return s.empty() ? "none" : s;
}

}  // namespace

unique_handle inherited(std::string_view name, std::error_code& ec) {
    std::vector<detail::manifest_entry> entries;
    if ((ec = read_manifest(entries))) return {};
    for (const auto& e : entries) {
        if (e.name != name) continue;
        std::lock_guard lock(taken_mutex);
        if (!taken_names.insert(e.name).second) {
            ec = errc::unknown_handle_name;
            return {};
        }
        if ((ec = detail::adopt_inherited(e.value))) return {};
        ec.clear();
        return unique_handle(e.value);
    }
    ec = errc::unknown_handle_name;
    return {};
}

unique_handle inherited(std::string_view name) {
    std::error_code ec;
    auto h = inherited(name, ec);
    if (!ec) return h;
    std::vector<detail::manifest_entry> entries;
    (void)read_manifest(entries);
    std::string what = "inherited('" + std::string(name) + "')";
    bool listed = std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return e.name == name; });
    if (ec == errc::unknown_handle_name && listed)
        what += ": already taken by an earlier inherited() call (a handle has one owner)";
    else if (ec == errc::unknown_handle_name)
        what += ": the parent passed no handle of that name (passed: " + names_of(entries) + ")";
    else if (ec == errc::invalid_handle_string)
        what += std::string(": malformed ") + manifest_variable + " in the environment";
    else if (ec == errc::no_manifest)
        what += std::string(": no ") + manifest_variable + " for this process";
    throw_error(ec, what);
}

std::vector<std::string> inherited_names() {
    std::vector<detail::manifest_entry> entries;
    std::vector<std::string> names;
    if (read_manifest(entries)) return names;
    for (auto& e : entries) names.push_back(std::move(e.name));
    return names;
}

}  // namespace tether
