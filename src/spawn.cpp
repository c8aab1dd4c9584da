// spawn(), once for every backend: the sequence that turns options into a running child. The
// backend only places the handles and starts the process (detail/backend.hpp, section 3); every
// check, the handle_arg() substitution, the manifest and the environment's rules, and the
// ownership hand-over after a successful launch happen here, in this order.
#include <tether/error.hpp>
#include <tether/spawn.hpp>

#include "detail/backend.hpp"
#include "detail/spawn_rules.hpp"

#include <string>
#include <utility>

namespace tether {
namespace detail {
namespace {

// The child has its copies now: the parent's are closed (the second way a pipe end leaks),
// and the object takes the process, our ends of its stdio pipes and its tree.
child hand_over(spawn_options& opt, launched&& l) {
    for (auto& h : opt.handles) h.h.reset();
    opt.in.h.reset();
    opt.out.h.reset();
    opt.err.h.reset();
    return make_child(std::move(l), opt.kill_on_destroy, opt.detached);
}

// On failure every handle is still in `opt` (a failed spawn gives them back) and `what` names
// the cause.
child run_spawn(spawn_options& opt, std::error_code& ec, std::string& what) {
    (void)reap_detached();  // children abandoned by earlier child objects, reaped without blocking
    if ((ec = validate_spawn_options(opt, what))) return {};
    spawn_plan plan(opt);
    launch_state_ptr state = launch_prepare(plan, ec, what);
    if (!state) return {};
    plan.argv = opt.argv;
    if ((ec = substitute_handle_args(plan.argv, plan.handles, what))) return {};
    plan.manifest = manifest_for(opt, plan.handles);
    plan.env_added = added_environment(opt, plan.manifest, std::to_string(plan.parent_id),
                                       environment_names_fold_case());
    launched l;
    if ((ec = launch(plan, *state, l, what))) return {};
    return hand_over(opt, std::move(l));
}

}  // namespace
}  // namespace detail

child spawn(spawn_options&& opt, std::error_code& ec, std::string& message) {
    std::string what;
    child c = detail::run_spawn(opt, ec, what);
    message = ec ? detail::spawn_context(opt) + (what.empty() ? "" : ": " + what) : std::string();
    return c;
}

child spawn(spawn_options&& opt, std::error_code& ec) {
    std::string what;
    return detail::run_spawn(opt, ec, what);
}

child spawn(spawn_options&& opt) {
    std::error_code ec;
    std::string message;
    child c = spawn(std::move(opt), ec, message);
    if (ec) throw_error(ec, message);
    return c;
}

}  // namespace tether
