// Internal, Windows only: an owner of a PROC_THREAD_ATTRIBUTE_LIST, for the launches that pass
// attributes to CreateProcessW (src/windows/spawn.cpp).
#pragma once

#include <vector>

#include <windows.h>

namespace tether::detail {

/// Room for `count` attributes, initialised; get() is nullptr if initialisation failed.
class attribute_list {
public:
    explicit attribute_list(DWORD count) {
        SIZE_T size = 0;
        ::InitializeProcThreadAttributeList(nullptr, count, 0, &size);
        buffer_.resize(size);
        auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(buffer_.data());
        if (::InitializeProcThreadAttributeList(list, count, 0, &size)) list_ = list;
    }
    attribute_list(const attribute_list&) = delete;
    attribute_list& operator=(const attribute_list&) = delete;
    ~attribute_list() {
        if (list_ != nullptr) ::DeleteProcThreadAttributeList(list_);
    }
    [[nodiscard]] LPPROC_THREAD_ATTRIBUTE_LIST get() const noexcept { return list_; }

private:
    std::vector<unsigned char> buffer_;
    LPPROC_THREAD_ATTRIBUTE_LIST list_{nullptr};
};

}  // namespace tether::detail
