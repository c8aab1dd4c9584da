// libFuzzer target: the parsers of holders input (src/holders_parse.cpp) — the CLI's PID[:FD],
// and the /proc texts the Linux backend reads (fd links, fdinfo, stat, net/unix lines) — and
// the JSON string writer. Invariants: no crash; an accepted PID[:FD] prints back to the same
// digits (modulo leading zeros); an accepted link is "pipe:[N]"/"socket:[N]" with N the inode;
// the JSON string is strict UTF-8 by an independent decoder (tests/support/strict_utf8.hpp), keeps
// well-formed input, starts and ends with '"', and has no raw control byte.
#include "detail/holders_parse.hpp"
#include "support/strict_utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

std::string without_leading_zeros(std::string_view digits) {
    auto nz = digits.find_first_not_of('0');
    return nz == std::string_view::npos ? "0" : std::string(digits.substr(nz));
}

void check_target(std::string_view text) {
    auto t = tether::detail::parse_holders_target(text);
    if (!t) return;
    if (t->pid <= 0) std::abort();
    auto colon = text.find(':');
    if (std::to_string(t->pid) != without_leading_zeros(text.substr(0, colon))) std::abort();
    if (t->handle.has_value() != (colon != std::string_view::npos)) std::abort();
    if (!t->handle) return;
    std::string_view h = text.substr(colon + 1);
    if (*t->handle < 0 || *t->handle > INT32_MAX) std::abort();
    if (h.starts_with("0x")) {  // hex: compare through strtoll, an independent parser
        if (std::strtoll(std::string(h.substr(2)).c_str(), nullptr, 16) != *t->handle) std::abort();
    } else if (std::to_string(*t->handle) != without_leading_zeros(h)) {
        std::abort();
    }
}

void check_link(std::string_view text) {
    auto l = tether::detail::parse_fd_link(text);
    if (!l) return;
    std::string prefix = l->first == tether::object_kind::pipe ? "pipe:[" : "socket:[";
    std::string_view digits = text.substr(prefix.size(), text.size() - prefix.size() - 1);
    if (!text.starts_with(prefix) || !text.ends_with(']') || std::to_string(l->second) != without_leading_zeros(digits))
        std::abort();
}

void check_json(std::string_view text) {
    std::string j = tether::detail::json_string(text);
    if (j.size() < 2 || j.front() != '"' || j.back() != '"') std::abort();
    if (tether_test::first_invalid_utf8(j) != std::string_view::npos) std::abort();  // an independent decoder
    for (char c : j)
        if (static_cast<unsigned char>(c) < 0x20) std::abort();
    // Well-formed input is kept: the decoder and the writer agree on what is valid.
    if (tether_test::first_invalid_utf8(text) == std::string_view::npos && j.find("\\ufffd") != std::string::npos &&
        text.find("\xEF\xBF\xBD") == std::string_view::npos && text.find("\\ufffd") == std::string_view::npos)
        std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);  // NOLINT
    check_target(text);
    check_link(text);
    (void)tether::detail::parse_fdinfo_flags(text);
    (void)tether::detail::parse_stat_parent(text);
    (void)tether::detail::parse_net_unix_inode(text);
    (void)tether::detail::parse_stat_fields(text);
    check_json(text);
    return 0;
}
