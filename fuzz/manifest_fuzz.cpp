// libFuzzer target: the manifest and handle-string parsers, which read text from the
// environment and argv of a child — input the parent controls, not us.
// Invariants checked: no crash; anything accepted formats back to the same text.
#include "detail/manifest.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);  // NOLINT
    std::vector<tether::detail::manifest_entry> entries;
    if (!tether::detail::parse_manifest(text, entries)) {
        if (tether::detail::format_manifest(entries) != text) std::abort();
    } else if (!entries.empty()) {
        std::abort();  // a failed parse must leave nothing behind
    }
    if (auto v = tether::detail::parse_handle_value(text)) {
        if (tether::detail::format_handle_value(*v) != text) std::abort();
    }
    return 0;
}
