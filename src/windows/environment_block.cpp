// Windows backend: the child's environment as CreateProcessW takes it (spawn_steps.hpp).
#include "windows/spawn_steps.hpp"

#include "windows/win.hpp"

#include <algorithm>

namespace tether::detail {

std::wstring environment_block(const std::vector<std::string>& env) {
    std::vector<std::wstring> w;
    w.reserve(env.size());
    for (const auto& e : env) w.push_back(widen(e));
    auto name = [](const std::wstring& s) {
        auto eq = s.find(L'=', s.empty() || s[0] != L'=' ? 0 : 1);
        return s.substr(0, eq);
    };
    std::stable_sort(w.begin(), w.end(), [&](const std::wstring& a, const std::wstring& b) {
        return ::CompareStringOrdinal(name(a).c_str(), -1, name(b).c_str(), -1, TRUE) == CSTR_LESS_THAN;
    });
    std::wstring block;
    for (const auto& e : w) {
        block += e;
        block += L'\0';
    }
    if (block.empty()) block += L'\0';
    block += L'\0';
    return block;
}

}  // namespace tether::detail
