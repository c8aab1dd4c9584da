// Internal, portable: the parsers of `holders` input — the CLI's PID[:FD] and the /proc texts
// the Linux backend reads (fd links, fdinfo, stat, net/unix) — and the JSON string writer. Kept
// apart from the system calls so each is fuzzed (fuzz/holders_fuzz.cpp) and table-tested.
#pragma once

#include <tether/holders.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tether::detail {

/// What `tether holders` was asked about.
struct holders_target {
    std::int64_t pid{0};
    std::optional<std::int64_t> handle;  ///< a descriptor number or a HANDLE value
};

/// "PID" or "PID:HANDLE": decimal digits only (no sign, no spaces), PID > 0, both in range;
/// HANDLE may also be "0x" and hex digits (Windows handles are shown in hex), at most INT32_MAX.
std::optional<holders_target> parse_holders_target(std::string_view text) noexcept;

/// A /proc/PID/fd link: "pipe:[INODE]" or "socket:[INODE]" -> (kind, inode); nullopt otherwise.
std::optional<std::pair<object_kind, std::uint64_t>> parse_fd_link(std::string_view link) noexcept;

/// The octal value of the "flags:" line of /proc/PID/fdinfo/FD text; nullopt if there is none.
std::optional<unsigned> parse_fdinfo_flags(std::string_view fdinfo) noexcept;

/// The "tty-index:" line of /proc/PID/fdinfo/FD text (Linux gives it for a pseudo-terminal's
/// master: the N of its /dev/pts/N); nullopt if there is none.
std::optional<std::uint64_t> parse_fdinfo_tty_index(std::string_view fdinfo) noexcept;

/// Field 4 (the parent PID) of /proc/PID/stat text. The command (field 2) is in parentheses and
/// may itself hold ") ", so fields are counted after the last ')'.
std::optional<std::int64_t> parse_stat_parent(std::string_view stat) noexcept;

/// The fields of /proc/PID/stat that holders uses.
struct stat_fields {
    std::int64_t parent{0};         ///< field 4, ppid
    std::int64_t process_group{0};  ///< field 5, pgrp
    std::int64_t session{0};        ///< field 6
    std::uint64_t start_time{0};    ///< field 22, starttime (clock ticks since boot)
};

/// Fields 4, 5, 6 and 22 of /proc/PID/stat text (counted after the last ')', as above);
/// nullopt if any is missing or not a number.
std::optional<stat_fields> parse_stat_fields(std::string_view stat) noexcept;

/// The inode column (the 7th) of one line of /proc/PID/net/unix; nullopt for a short line.
std::optional<std::uint64_t> parse_net_unix_inode(std::string_view line) noexcept;

/// `s` as a JSON string literal. The output is always strict UTF-8 (RFC 3629): every byte that
/// does not start a well-formed sequence — a stray continuation byte, an overlong form, a
/// surrogate (U+D800..U+DFFF), a code point above U+10FFFF, a C0, C1 or F5..FF lead byte, a
/// truncated sequence — becomes \ufffd; control characters are escaped.
std::string json_string(std::string_view s);

/// The length of the well-formed UTF-8 sequence at the start of `s` (1-4), or 0 if there is
/// none (Unicode 15, table 3-7).
std::size_t utf8_sequence_length(std::string_view s) noexcept;

}  // namespace tether::detail
