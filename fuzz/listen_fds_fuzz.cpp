// libFuzzer target: the child's parser of systemd's socket activation variables (LISTEN_PID,
// LISTEN_FDS, LISTEN_FDNAMES), which any parent or supervisor may set: input not ours.
// The input is the three values separated by NUL bytes (fewer parts: the rest unset).
// Invariants checked: no crash; an error leaves nothing behind and says which variable; what is
// accepted is addressed to the reader, numbered from 3, with names systemd would accept, as
// many as LISTEN_FDS says.
#include "detail/manifest.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);  // NOLINT
    tether::detail::listen_variables v;
    std::optional<std::string>* parts[3] = {&v.pid, &v.fds, &v.names};
    for (auto* part : parts) {
        if (text.data() == nullptr) break;
        auto nul = text.find('\0');
        *part = std::string(text.substr(0, nul));
        text = nul == std::string_view::npos ? std::string_view() : text.substr(nul + 1);
        if (nul == std::string_view::npos) break;
    }
    constexpr std::int64_t reader = 4242;
    std::vector<tether::detail::manifest_entry> out;
    std::string what;
    if (tether::detail::parse_listen_fds(v, reader, out, what)) {
        if (!out.empty() || what.find("LISTEN_") != 0) std::abort();
        return 0;
    }
    if (out.empty()) return 0;
    // LISTEN_FDS may carry leading zeros ("03"), as systemd's own parser accepts: compare numbers.
    std::uint64_t count = 0;
    if (!v.pid || *v.pid != std::to_string(reader) || !v.fds ||
        std::from_chars(v.fds->data(), v.fds->data() + v.fds->size(), count).ec != std::errc{} || count != out.size())
        std::abort();
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (tether::handle_to_integer(out[i].value) != 3 + static_cast<std::int64_t>(i)) std::abort();
        if (v.names && !tether::detail::valid_listen_name(out[i].name)) std::abort();
    }
    return 0;
}
