// Windows backend: the handle vault (handle_vault.hpp). One per process, started on first need.
//
// The vault's job has JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK to keep the children out of it: a
// child created with the vault as parent inherits the vault's jobs ("Attributes inherited from
// the specified process include ... job object", UpdateProcThreadAttribute), and with silent
// breakaway on the immediate job it leaves that job only and moves up to the first one that
// does not allow breakaway (Nested Jobs, "Creating a Nested Job Hierarchy"): our own jobs, as
// a direct child.
#include "windows/handle_vault.hpp"

#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "testing/test_hooks.hpp"
#include "windows/process.hpp"
#include "windows/win.hpp"

#include <mutex>

namespace tether::detail {

std::shared_ptr<vault_process> vault_process::create(std::error_code& ec, std::string& what) {
    auto v = std::make_shared<vault_process>();
    std::wstring exe = widen(current_executable_path());
    std::wstring cmd = L"\"" + exe + L"\" --tether-handle-vault";
    STARTUPINFOW si{};
    si.cb = sizeof si;
    PROCESS_INFORMATION pi{};
    if (!::CreateProcessW(exe.c_str(), cmd.data(), nullptr, nullptr, FALSE, CREATE_SUSPENDED, nullptr, nullptr,
                          &si, &pi)) {
        ec = last_os_error();
        what = "create the suspended handle-vault process";
        return nullptr;
    }
    v->process_.reset(pi.hProcess);
    v->thread_.reset(pi.hThread);
    v->pid_ = pi.dwProcessId;
    if ((ec = v->contain())) {
        what = "put the handle vault into its kill-on-close job";
        ::TerminateProcess(pi.hProcess, 0);
        return nullptr;
    }
    return v;
}

vault_process::~vault_process() {
    // Closing the job kills the vault (KILL_ON_JOB_CLOSE); terminate as well, for clarity.
    if (process_) ::TerminateProcess(process_.get(), 0);
}

std::error_code vault_process::contain() {
    job_.reset(::CreateJobObjectW(nullptr, nullptr));  // unnamed, non-inheritable: only we hold it
    if (!job_) return last_os_error();
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
    if (!::SetInformationJobObject(job_.get(), JobObjectExtendedLimitInformation, &limits, sizeof limits) ||
        !::AssignProcessToJobObject(job_.get(), process_.get()))
        return last_os_error();
    return {};
}

namespace {
std::mutex vault_mutex;
std::shared_ptr<vault_process> current_vault;
}  // namespace

std::shared_ptr<vault_process> acquire_vault(std::error_code& ec, std::string& what) {
    std::lock_guard lock(vault_mutex);
    if (current_vault && current_vault->alive()) return current_vault;
    current_vault = vault_process::create(ec, what);
    return current_vault;
}

// A test hook (testing/test_hooks.hpp) defined here, not in test_hooks.cpp: it reads the
// vault's state, which this file keeps to itself.
test_hooks::vault_view test_hooks::current_handle_vault() {
    std::lock_guard lock(vault_mutex);
    if (!current_vault) return {};
    return {current_vault->process(), current_vault->job()};
}

}  // namespace tether::detail
