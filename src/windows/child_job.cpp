// Windows backend: the child's own job object (a group or tree of its own, kill_on_parent_exit) and
// leaving ours (detached); spawn_steps.hpp.
#include "windows/spawn_steps.hpp"

#include "windows/process.hpp"

namespace tether::detail {

std::error_code make_child_job(const spawn_options& opt, std::shared_ptr<process_tree>& tree, std::string& what) {
    if (opt.group == process_group::inherit && !opt.own_tree && !opt.kill_on_parent_exit) return {};
    tree = std::make_shared<process_tree>();
    tree->job.reset(::CreateJobObjectW(nullptr, nullptr));
    if (!tree->job) return os_error(what, "create the child's job object");
    if (!opt.kill_on_parent_exit) return {};
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!::SetInformationJobObject(tree->job.get(), JobObjectExtendedLimitInformation, &limits, sizeof limits))
        return os_error(what, "make the child's job kill-on-close (kill_on_parent_exit)");
    tree->kill_on_close = true;
    return {};
}

DWORD breakaway_flag() {
    BOOL in_job = FALSE;
    if (!::IsProcessInJob(::GetCurrentProcess(), nullptr, &in_job) || !in_job) return 0;
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info{};
    if (!::QueryInformationJobObject(nullptr, JobObjectExtendedLimitInformation, &info, sizeof info, nullptr))
        return 0;
    return (info.BasicLimitInformation.LimitFlags & JOB_OBJECT_LIMIT_BREAKAWAY_OK) != 0 ? CREATE_BREAKAWAY_FROM_JOB : 0;
}

std::error_code start_in_job(const process_tree* tree, const PROCESS_INFORMATION& pi, std::string& what) {
    if (tree == nullptr) return {};
    if (!::AssignProcessToJobObject(tree->job.get(), pi.hProcess)) {
        auto ec = os_error(what, "put the child into its job object");
        ::TerminateProcess(pi.hProcess, 1);
        return ec;
    }
    if (::ResumeThread(pi.hThread) == static_cast<DWORD>(-1)) {
        auto ec = os_error(what, "resume the child after putting it into its job");
        ::TerminateProcess(pi.hProcess, 1);
        return ec;
    }
    return {};
}

}  // namespace tether::detail
