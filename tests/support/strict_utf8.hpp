// Portable test code: a strict UTF-8 decoder, written from the definition (RFC 3629) rather
// than from the table in src/holders_parse.cpp: decode each sequence to its code point and
// refuse what UTF-8 forbids — overlong forms, surrogates, code points above U+10FFFF, bad or
// missing continuation bytes. Used by tests/linux/cli_test.cpp and fuzz/holders_fuzz.cpp.
#pragma once

#include <cstdint>
#include <string_view>

namespace tether_test {

/// The offset of the first byte that does not begin a well-formed sequence, or npos.
inline std::size_t first_invalid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return i;
        std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
        for (std::size_t k = 1; k < n; ++k) {
            auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (b & 0x3Fu);
        }
        static const std::uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n;
    }
    return std::string_view::npos;
}

}  // namespace tether_test
