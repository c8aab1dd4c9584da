// Portable: systemd's socket activation variables (sd_listen_fds(3)), parsed for the child's
// side of tether::inherited. The parent's side is in spawn_common.cpp (the environment) and
// each backend (the child's own id, written between clone and exec).
#include "detail/manifest.hpp"

#include <tether/error.hpp>

#include <charconv>
#include <limits>
#include <unordered_set>

namespace tether::detail {

bool valid_listen_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 255) return false;
    for (char c : name)
        if (c < ' ' || c > '~' || c == ':') return false;
    return true;
}

namespace {

// More descriptors than any process can hold: a larger count is garbage, not a request.
constexpr std::uint64_t max_listen_fds = std::uint64_t{1} << 20;

std::error_code bad(std::string& what, const char* variable, const std::string& value, const char* why) {
    what = std::string(variable) + "='" + value + "' " + why;
    return errc::invalid_handle_string;
}

std::optional<std::uint64_t> parse_count(const std::string& text) {
    std::uint64_t v = 0;
    auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || err != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

// LISTEN_FDNAMES split at ':', each checked; or "unknown" for every descriptor when absent.
std::error_code names_of(const listen_variables& v, std::uint64_t count, std::vector<std::string>& names,
                         std::string& what) {
    if (!v.names || count == 0) {
        names.assign(count, listen_unnamed);
        return {};
    }
    std::string_view text = *v.names;
    std::unordered_set<std::string_view> seen;
    for (std::size_t start = 0;;) {
        auto colon = text.find(':', start);
        auto name = text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
        if (!valid_listen_name(name))
            return bad(what, listen_fdnames_variable, *v.names, "holds an empty name, or one with a control character");
        if (!seen.insert(name).second) return bad(what, listen_fdnames_variable, *v.names, "gives a name twice");
        names.emplace_back(name);
        if (names.size() > count || colon == std::string_view::npos) break;
        start = colon + 1;
    }
    if (names.size() != count)
        return bad(what, listen_fdnames_variable, *v.names,
                   ("names " + std::to_string(names.size()) + " descriptors where LISTEN_FDS says " +
                    std::to_string(count)).c_str());
    return {};
}

}  // namespace

std::error_code parse_listen_fds(const listen_variables& v, std::int64_t reader, std::vector<manifest_entry>& out,
                                 std::string& what) {
    out.clear();
    if (!v.pid || !v.fds) return {};  // not socket-activated
    auto pid = parse_pid(*v.pid);
    if (!pid || *pid == 0) return bad(what, listen_pid_variable, *v.pid, "is not a process id");
    if (*pid != reader) return {};  // addressed to another process (our parent, say): not ours
    auto count = parse_count(*v.fds);
    if (!count || *count > max_listen_fds)
        return bad(what, listen_fds_variable, *v.fds, "is not a count of descriptors (a decimal number up to 1048576)");
    std::vector<std::string> names;
    if (auto ec = names_of(v, *count, names, what)) return ec;
    for (std::uint64_t i = 0; i < *count; ++i) {
        auto value = handle_from_integer(static_cast<std::uint64_t>(listen_fds_start) + i);
        out.push_back({std::move(names[i]), value, {}});
    }
    return {};
}

}  // namespace tether::detail
