// Portable: the parsers of holders input and the JSON string writer (see detail/holders_parse.hpp).
#include "detail/holders_parse.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>

namespace tether::detail {
namespace {

template <typename T>
std::optional<T> parse_number(std::string_view text, int base = 10) noexcept {
    if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

bool all_digits(std::string_view text) noexcept {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The `index`-th word (0-based) of a line of words separated by spaces.
std::string_view word(std::string_view line, std::size_t index) noexcept {
    for (std::size_t i = 0;; ++i) {
        auto begin = line.find_first_not_of(' ');
        if (begin == std::string_view::npos) return {};
        line.remove_prefix(begin);
        auto len = std::min(line.size(), line.find(' '));
        if (i == index) return line.substr(0, len);
        line.remove_prefix(len);
    }
}

}  // namespace

std::optional<holders_target> parse_holders_target(std::string_view text) noexcept {
    auto colon = text.find(':');
    auto pid_text = text.substr(0, colon);
    if (!all_digits(pid_text)) return std::nullopt;
    auto pid = parse_number<std::int64_t>(pid_text);
    if (!pid || *pid <= 0) return std::nullopt;
    if (colon == std::string_view::npos) return holders_target{*pid, std::nullopt};
    auto fd_text = text.substr(colon + 1);
    int base = 10;
    if (fd_text.starts_with("0x")) {
        fd_text.remove_prefix(2);
        base = 16;
        if (fd_text.empty() || fd_text.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
            return std::nullopt;
    } else if (!all_digits(fd_text)) {
        return std::nullopt;
    }
    auto fd = parse_number<int>(fd_text, base);
    if (!fd) return std::nullopt;
    return holders_target{*pid, std::int64_t{*fd}};
}

std::optional<std::pair<object_kind, std::uint64_t>> parse_fd_link(std::string_view link) noexcept {
    object_kind kind{};
    if (link.starts_with("pipe:[")) {
        kind = object_kind::pipe;
        link.remove_prefix(6);
    } else if (link.starts_with("socket:[")) {
        kind = object_kind::unix_socket;
        link.remove_prefix(8);
    } else {
        return std::nullopt;
    }
    if (!link.ends_with(']')) return std::nullopt;
    link.remove_suffix(1);
    if (!all_digits(link)) return std::nullopt;
    auto inode = parse_number<std::uint64_t>(link);
    if (!inode) return std::nullopt;
    return std::pair{kind, *inode};
}

namespace {

// The value of the line "KEY\tvalue" of /proc/PID/fdinfo text, KEY at the start of a line (the
// kernel writes "pos:", "flags:", "mnt_id:", ...); nullopt if there is none.
std::optional<std::string_view> fdinfo_value(std::string_view fdinfo, std::string_view key) noexcept {
    std::size_t at = 0;
    for (;;) {
        at = fdinfo.find(key, at);
        if (at == std::string_view::npos) return std::nullopt;
        if (at == 0 || fdinfo[at - 1] == '\n') break;
        at += key.size();
    }
    std::string_view v = fdinfo.substr(at + key.size());
    auto begin = v.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return std::nullopt;
    v.remove_prefix(begin);
    return v.substr(0, v.find('\n'));
}

}  // namespace

std::optional<unsigned> parse_fdinfo_flags(std::string_view fdinfo) noexcept {
    auto v = fdinfo_value(fdinfo, "flags:");
    if (!v || !std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '7'; })) return std::nullopt;
    return parse_number<unsigned>(*v, 8);
}

std::optional<std::uint64_t> parse_fdinfo_tty_index(std::string_view fdinfo) noexcept {
    auto v = fdinfo_value(fdinfo, "tty-index:");
    if (!v || !all_digits(*v)) return std::nullopt;
    return parse_number<std::uint64_t>(*v);
}

std::optional<std::int64_t> parse_stat_parent(std::string_view stat) noexcept {
    auto close = stat.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = stat.substr(close + 1);  // " S PPID ..."
    auto ppid = word(rest, 1);
    if (!all_digits(ppid)) return std::nullopt;
    return parse_number<std::int64_t>(ppid);
}

std::optional<stat_fields> parse_stat_fields(std::string_view stat) noexcept {
    auto close = stat.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = stat.substr(close + 1);  // " S PPID PGRP SESSION ... STARTTIME ..."
    auto ppid = word(rest, 1), pgrp = word(rest, 2), session = word(rest, 3), start = word(rest, 19);
    for (auto w : {ppid, pgrp, session, start})
        if (!all_digits(w)) return std::nullopt;
    auto p = parse_number<std::int64_t>(ppid), g = parse_number<std::int64_t>(pgrp),
         s = parse_number<std::int64_t>(session);
    auto t = parse_number<std::uint64_t>(start);
    if (!p || !g || !s || !t) return std::nullopt;
    return stat_fields{*p, *g, *s, *t};
}

std::optional<std::uint64_t> parse_net_unix_inode(std::string_view line) noexcept {
    auto inode = word(line, 6);
    if (!all_digits(inode)) return std::nullopt;
    return parse_number<std::uint64_t>(inode);
}

std::size_t utf8_sequence_length(std::string_view s) noexcept {
    if (s.empty()) return 0;
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char c = b(0);
    if (c < 0x80) return 1;
    // Lead byte: the length and the allowed range of the second byte (table 3-7), which is what
    // excludes overlong forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code
    // points above U+10FFFF (F4 90..BF, F5..FF).
    struct lead {
        unsigned char first, last;  // the lead bytes of this row
        std::size_t n;              // the sequence's length
        unsigned char lo, hi;       // the allowed second byte
    };
    static constexpr lead table[] = {{0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF},
                                     {0xE1, 0xEC, 3, 0x80, 0xBF}, {0xED, 0xED, 3, 0x80, 0x9F},
                                     {0xEE, 0xEF, 3, 0x80, 0xBF}, {0xF0, 0xF0, 4, 0x90, 0xBF},
                                     {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F}};
    const lead* row = std::find_if(std::begin(table), std::end(table),
                                   [&](const lead& l) { return c >= l.first && c <= l.last; });
    if (row == std::end(table)) return 0;
    std::size_t n = row->n;
    unsigned char lo = row->lo, hi = row->hi;
    if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i)
        if (b(i) < 0x80 || b(i) > 0xBF) return 0;
    return n;
}

std::string json_string(std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "\"";
    out.reserve(s.size() + 2);
    while (!s.empty()) {
        std::size_t n = utf8_sequence_length(s);
        auto c = static_cast<unsigned char>(s[0]);
        if (n == 0) {
            out += "\\ufffd";
            n = 1;
        } else if (c == '"' || c == '\\') {
            out += '\\';
            out += s[0];
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out.append(s.substr(0, n));
        }
        s.remove_prefix(n);
    }
    return out + "\"";
}

}  // namespace tether::detail
