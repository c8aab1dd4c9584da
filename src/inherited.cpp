// Portable: the child's side of the manifest (tether::inherited).
#include "detail/manifest.hpp"
#include "detail/backend.hpp"

#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <set>

namespace tether {
namespace {

// Names already taken: a handle is owned once, so a second inherited("x") is an error
// rather than a second owner that would close the same descriptor twice.
std::mutex taken_mutex;
std::set<std::string> taken_names;

// Our parent as it was when the program started (static initialisation runs before main in
// any program that links this file, i.e. any program that calls inherited()).
const std::int64_t parent_at_start = detail::parent_pid();

// An entry is ours if it names, at that number, the very object the writer passed (the
// identity recorded by the parent: device and inode on POSIX, file id or name on Windows).
// Without a recorded identity (an object that has none) the writer must be our parent, now or
// at start, and the handle must have no identity either (a tether parent would have recorded
// it). A grandchild that inherited the environment fails both: another parent, another object.
bool entry_is_ours(const detail::manifest_entry& e, bool writer_is_parent) {
    if (!e.identity.empty()) return detail::handle_identity(e.value) == e.identity;
    return writer_is_parent && detail::handle_identity(e.value).empty();
}

// POSIX writes the reader's own id into the manifest (TETHER_CHILD_PID, from the child itself
// before exec): any other process — a grandchild run through sh -c or system() that inherited
// the descriptors too — is not the reader, whatever its descriptors are. Absent (Windows, whose
// writer-is-parent rule suffices, or a manifest set by hand): no constraint.
bool meant_for_another_process() {
    auto reader = detail::get_environment_variable(detail::manifest_child_variable);
    if (!reader) return false;
    auto pid = detail::parse_pid(*reader);
    return !pid || *pid != detail::current_pid();
}

// The manifest's entries and whether its writer is our parent (now or at start).
std::error_code read_manifest(std::vector<detail::manifest_entry>& out, bool& writer_is_parent) {
    auto text = detail::get_environment_variable(manifest_variable);
    auto parent = detail::get_environment_variable(manifest_parent_variable);
    if (!text || !parent) return errc::no_manifest;
    if (meant_for_another_process()) return errc::no_manifest;
    auto pid = detail::parse_pid(*parent);
    if (!pid) return errc::no_manifest;
    writer_is_parent = *pid == parent_at_start || *pid == detail::parent_pid();
    return detail::parse_manifest(*text, out);
}

// The entries that are ours (see entry_is_ours); no_manifest if none is.
std::error_code read_own_entries(std::vector<detail::manifest_entry>& out) {
    bool writer_is_parent = false;
    std::vector<detail::manifest_entry> entries;
    if (auto ec = read_manifest(entries, writer_is_parent)) return ec;
    std::erase_if(entries, [&](const auto& e) { return !entry_is_ours(e, writer_is_parent); });
    if (entries.empty()) return errc::no_manifest;
    out = std::move(entries);
    return {};
}

// The manifest is read, and its identities checked, once: all three variables are then removed
// from our environment, so no process we start by any means inherits them (a reader id left
// behind would be a stale one in every later process), and a later check never queries a
// handle that is in use by then.
std::mutex manifest_mutex;
bool manifest_read = false;
std::error_code manifest_error;
std::vector<detail::manifest_entry> manifest_entries;

// systemd's socket activation, read at the same moment and as sd_listen_fds(1) reads it: the
// descriptors addressed to us are checked to be open and made close-on-exec, and the three
// variables are removed whoever they were addressed to.
std::error_code listen_error;
std::string listen_what;  // the variable and value at fault
std::vector<detail::manifest_entry> listen_entries;
std::vector<bool> listen_taken;

std::optional<std::string> take_variable(const char* name) {
    auto v = detail::get_environment_variable(name);
    detail::unset_environment_variable(name);
    return v;
}

void read_listen_fds() {
    if (!detail::has_descriptor_numbers()) return;
    detail::listen_variables v{take_variable(detail::listen_pid_variable), take_variable(detail::listen_fds_variable),
                               take_variable(detail::listen_fdnames_variable)};
    listen_error = detail::parse_listen_fds(v, detail::current_pid(), listen_entries, listen_what);
    for (const auto& e : listen_entries) {
        if (listen_error) break;
        if (detail::adopt_inherited(e.value)) {
            listen_what = std::string(detail::listen_fds_variable) + "='" + *v.fds + "': " +
                          detail::describe_handle(e.value) + " ('" + e.name + "') is not open";
            listen_error = errc::invalid_handle_string;
        }
    }
    if (listen_error) listen_entries.clear();
    listen_taken.assign(listen_entries.size(), false);
}

// Once per process, under manifest_mutex.
void read_everything() {
    if (manifest_read) return;
    manifest_error = read_own_entries(manifest_entries);
    manifest_read = true;
    // All three together: a TETHER_CHILD_PID left behind would reach every process we start.
    for (const char* name : {manifest_variable, manifest_parent_variable, detail::manifest_child_variable})
        detail::unset_environment_variable(name);
    read_listen_fds();
}

std::error_code read_manifest(std::vector<detail::manifest_entry>& out) {
    std::lock_guard lock(manifest_mutex);
    read_everything();
    if (manifest_error) return manifest_error;
    out = manifest_entries;
    return {};
}

// The next untaken socket-activation descriptor called `name` (systemd calls every unnamed one
// "unknown": they are taken in order).
std::optional<native_handle> take_listen_fd(std::string_view name, std::error_code& ec) {
    std::lock_guard lock(manifest_mutex);
    read_everything();
    for (std::size_t i = 0; i < listen_entries.size(); ++i) {
        if (listen_entries[i].name != name || listen_taken[i]) continue;
        listen_taken[i] = true;
        ec.clear();
        return listen_entries[i].value;
    }
    if (listen_error) ec = listen_error;
    return std::nullopt;
}

std::vector<std::string> listen_names() {
    std::lock_guard lock(manifest_mutex);
    read_everything();
    std::vector<std::string> names;
    for (const auto& e : listen_entries) names.push_back(e.name);
    return names;
}

std::string names_of(const std::vector<detail::manifest_entry>& entries) {
    std::string s;
    for (const auto& e : entries) s += (s.empty() ? "" : ", ") + e.name;
    return s.empty() ? "none" : s;
}

}  // namespace

unique_handle inherited(std::string_view name, std::error_code& ec) {
    std::lock_guard lock(taken_mutex);
    if (taken_names.count(std::string(name)) != 0) {
        ec = errc::unknown_handle_name;  // taken once already: a second owner would double-close
        return {};
    }
    std::vector<detail::manifest_entry> entries;
    auto manifest = read_manifest(entries);
    for (const auto& e : entries) {
        if (e.name != name) continue;
        if ((ec = detail::adopt_inherited(e.value))) return {};
        taken_names.insert(e.name);
        return unique_handle(e.value);
    }
    std::error_code lec;
    if (auto fd = take_listen_fd(name, lec)) return unique_handle(*fd);  // adopted when read
    if (lec) ec = lec;
    else ec = manifest && listen_names().empty() ? manifest : make_error_code(errc::unknown_handle_name);
    return {};
}

unique_handle inherited(std::string_view name) {
    std::error_code ec;
    auto h = inherited(name, ec);
    if (!ec) return h;
    std::vector<detail::manifest_entry> entries;
    (void)read_manifest(entries);
    bool taken = false;
    {
        std::lock_guard lock(taken_mutex);
        taken = taken_names.count(std::string(name)) != 0;
    }
    std::string what = "inherited('" + std::string(name) + "')";
    auto listen = listen_names();
    taken = taken || std::find(listen.begin(), listen.end(), name) != listen.end();  // all present were taken
    for (auto& n : listen) entries.push_back({std::move(n), {}, {}});
    if (ec == errc::unknown_handle_name && taken)
        what += ": already taken by an earlier inherited() call (a handle has one owner)";
    else if (ec == errc::unknown_handle_name)
        what += ": the parent passed no handle of that name (passed: " + names_of(entries) + ")";
    else if (ec == errc::no_manifest)
        what += std::string(": no ") + manifest_variable + " (nor LISTEN_FDS) for this process";
    else if (ec == errc::invalid_handle_string && !listen_what.empty())
        what += ": " + listen_what;
    else if (ec == errc::invalid_handle_string)
        what += std::string(": malformed ") + manifest_variable + " in the environment";
    throw_error(ec, what);
}

std::vector<std::string> inherited_names() {
    std::vector<detail::manifest_entry> entries;
    std::vector<std::string> names;
    if (!read_manifest(entries))
        for (auto& e : entries) names.push_back(std::move(e.name));
    for (auto& n : listen_names()) names.push_back(std::move(n));
    return names;
}

}  // namespace tether
