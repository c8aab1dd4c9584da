// Portable: the manifest format and decimal handle values (the .NET handle-string form).
#include "detail/manifest.hpp"

#include <tether/error.hpp>

#include <charconv>
#include <cstdint>
#include <limits>
#include <unordered_set>

namespace tether::detail {

bool valid_handle_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

namespace {
// Lower-case hex digits and dots, as handle_identity() writes them.
bool valid_identity(std::string_view id) noexcept {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.')) return false;
    return true;
}

std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) noexcept {
    if (text.empty() || text.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (err != std::errc{} || end != text.data() + text.size() || v > max) return std::nullopt;
    if (text.size() > 1 && text[0] == '0') return std::nullopt;  // no leading zeros: one spelling
    return v;
}
}  // namespace

std::optional<native_handle> parse_handle_value(std::string_view text) noexcept {
    auto v = parse_decimal(text, max_handle_value);
    if (!v) return std::nullopt;
    return handle_from_integer(*v);
}

std::string format_handle_value(native_handle h) { return std::to_string(handle_to_integer(h)); }

std::optional<std::int64_t> parse_pid(std::string_view text) noexcept {
    auto v = parse_decimal(text, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    if (!v) return std::nullopt;
    return static_cast<std::int64_t>(*v);
}

std::string format_manifest(const std::vector<manifest_entry>& entries) {
    std::string out;
    for (const auto& e : entries) {
        if (!out.empty()) out += ',';
        out += e.name;
        out += ':';
        out += format_handle_value(e.value);
        if (!e.identity.empty()) out += '@' + e.identity;
    }
    return out;
}

// Linear in the text: one pass over the items, names checked for repeats in a hash set (a
// search of the entries so far made a 1 MiB manifest take seconds).
std::error_code parse_manifest(std::string_view text, std::vector<manifest_entry>& out) {
    out.clear();
    std::vector<manifest_entry> result;
    std::unordered_set<std::string_view> names;  // views into `text`, which outlives the parse
    while (!text.empty()) {
        auto comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (comma != std::string_view::npos && text.empty()) return errc::invalid_handle_string;
        auto colon = item.find(':');
        if (colon == std::string_view::npos) return errc::invalid_handle_string;
        std::string_view name = item.substr(0, colon);
        std::string_view rest = item.substr(colon + 1);
        std::string_view identity;
        if (auto at = rest.find('@'); at != std::string_view::npos) {
            identity = rest.substr(at + 1);
            rest = rest.substr(0, at);
            if (!valid_identity(identity)) return errc::invalid_handle_string;
        }
        auto value = parse_handle_value(rest);
        if (!valid_handle_name(name) || !value) return errc::invalid_handle_string;
        if (!names.insert(name).second) return errc::invalid_handle_string;
        result.push_back({std::string(name), *value, std::string(identity)});
    }
    out = std::move(result);
    return {};
}

}  // namespace tether::detail
