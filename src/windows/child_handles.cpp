// Windows backend: the handles one spawn gives its child (child_handles.hpp says why three ways).
#include "windows/child_handles.hpp"

#include <tether/error.hpp>

#include "windows/handle_vault.hpp"
#include "windows/win.hpp"

#include <algorithm>

namespace tether::detail {

std::error_code child_handles::open(mode m, std::string& what) {
    mode_ = m;
    if (m != mode::vault) return {};
    std::error_code ec;
    vault_ = acquire_vault(ec, what);
    return ec;
}

HANDLE child_handles::parent_process() const noexcept { return vault_ ? vault_->process() : nullptr; }

DWORD child_handles::parent_pid() const noexcept { return vault_ ? vault_->pid() : ::GetCurrentProcessId(); }

std::error_code child_handles::put(HANDLE ours, HANDLE& theirs, std::string& what) {
    theirs = ours;
    if (!is_valid_native(ours) || is_console_pseudo_handle(ours)) return {};
    auto it = copies_.find(ours);
    if (it != copies_.end()) {
        theirs = it->second;
        return {};
    }
    if (mode_ == mode::self_copy && !window_.owns_lock()) window_ = std::unique_lock(inheritable_window_mutex());
    if (mode_ != mode::direct) {
        HANDLE target = vault_ ? vault_->process() : ::GetCurrentProcess();
        if (!::DuplicateHandle(::GetCurrentProcess(), ours, target, &theirs, 0, TRUE, DUPLICATE_SAME_ACCESS)) {
            what = "duplicate " + describe_handle(ours) + " for the child";
            return last_os_error();
        }
    }
    copies_.emplace(ours, theirs);
    return {};
}

std::vector<HANDLE> child_handles::values() const {
    std::vector<HANDLE> v;
    for (const auto& [ours, theirs] : copies_) v.push_back(theirs);
    return v;
}

void child_handles::close_copies() noexcept {
    for (const auto& [ours, theirs] : copies_) {
        if (mode_ == mode::self_copy) {
            ::CloseHandle(theirs);
        } else if (mode_ == mode::vault) {
            // Wine refuses a NULL target process with DUPLICATE_CLOSE_SOURCE, so the copy
            // comes back to us (non-inheritable) and is closed here.
            HANDLE back = nullptr;
            if (::DuplicateHandle(vault_->process(), theirs, ::GetCurrentProcess(), &back, 0, FALSE,
                                  DUPLICATE_CLOSE_SOURCE | DUPLICATE_SAME_ACCESS))
                ::CloseHandle(back);
        }
    }
    copies_.clear();
    if (window_.owns_lock()) window_.unlock();
}

std::mutex& inheritable_window_mutex() noexcept {
    static std::mutex m;
    return m;
}

namespace {

// True if `h` needs no copy to be inherited: none, a console pseudo-handle, or a handle that is
// inheritable in our process already (making the child inherit it opens no new window).
bool inheritable_as_is(HANDLE h) {
    if (!is_valid_native(h) || is_console_pseudo_handle(h)) return true;
    DWORD flags = 0;
    return ::GetHandleInformation(h, &flags) && (flags & HANDLE_FLAG_INHERIT) != 0;
}

}  // namespace

child_handles::mode inheritance_mode(const spawn_options& opt, std::span<const HANDLE, 3> stdio) {
    if (opt.windows_direct_inheritance) return child_handles::mode::self_copy;
    bool as_is = std::all_of(stdio.begin(), stdio.end(), inheritable_as_is) &&
                 std::all_of(opt.handles.begin(), opt.handles.end(),
                             [](const spawn_options::passed& h) { return inheritable_as_is(h.h.get()); });
    return as_is ? child_handles::mode::direct : child_handles::mode::vault;
}

}  // namespace tether::detail
