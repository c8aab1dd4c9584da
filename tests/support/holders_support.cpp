// The holder roles and helpers of support/holders_support.hpp, the same on every platform.
#include "support/holders_support.hpp"

#include "support/harness.hpp"

#include <algorithm>
#include <chrono>

using namespace std::chrono_literals;

namespace {

// Tells the test its PID through "ready" (then closes it: the test reads to end-of-file, so
// readiness needs no sleep) and keeps "w" open until the test closes its end of "release".
int hold_until_released() {
    // Every handle is taken before "taken" is closed: inherited() checks the manifest against
    // our parent's PID each time, and an orphaning parent exits once "taken" is closed.
    auto w = tether::inherited("w");
    auto release = tether::inherited("release");
    auto ready = tether::inherited("ready");
    auto names = tether::inherited_names();
    if (std::find(names.begin(), names.end(), "taken") != names.end()) tether::inherited("taken").reset();
    tether::write_all(ready, std::to_string(tether::this_process_id()));
    ready.reset();
    std::byte b[1];
    (void)tether::read(release, b);  // end-of-file when the test lets go
    return w ? 0 : 1;
}

// Passes this process's "w", "ready" and "release" on to a new holder; `wait` keeps us alive
// as its parent (so it is our grandchild), otherwise we exit as soon as it has taken its
// handles and orphan it. (Not earlier: the manifest names the spawning PID, so a child whose
// parent is already gone, re-parented, rightly refuses it.)
int spawn_holder(bool wait) {
    auto opt = tether_test::role_options("holders_hold");
    // The leak made on purpose: tether gives a child only what it is passed, so pass it.
    for (const char* name : {"w", "ready", "release"}) opt.pass(tether::inherited(name), name);
    if (wait) return tether::spawn(std::move(opt)).wait().success() ? 0 : 1;
    auto [taken_r, taken_w] = tether::make_pipe();
    opt.pass(std::move(taken_w), "taken");
    tether::child c = tether::spawn(std::move(opt));
    (void)tether::read_to_end(taken_r);
    c.detach();
    return 0;
}

}  // namespace

TETHER_CHILD_ROLE(holders_hold) { return hold_until_released(); }
TETHER_CHILD_ROLE(holders_middle) { return spawn_holder(true); }
TETHER_CHILD_ROLE(holders_orphaner) { return spawn_holder(false); }

namespace tether_test {

held_pipe start_holder(const std::string& role, tether::unique_handle ours, tether::unique_handle theirs) {
    auto [ready_r, ready_w] = tether::make_pipe();
    auto [release_r, release_w] = tether::make_pipe();
    auto opt = role_options(role);
    opt.pass(std::move(theirs), "w").pass(std::move(ready_w), "ready").pass(std::move(release_r), "release");
    held_pipe h{std::move(ours), std::move(release_w), tether::spawn(std::move(opt)), 0};
    std::error_code ec;
    std::string pid = tether::read_to_end_for(ready_r, 30s, ec);
    EXPECT_FALSE(ec) << "the holder never said it was ready: " << ec.message();
    h.holder_pid = pid.empty() ? 0 : std::stoll(pid);
    return h;
}

held_pipe start_holder(const std::string& role) {
    auto [r, w] = tether::make_pipe();
    return start_holder(role, std::move(r), std::move(w));
}

tether::held_object only_object(const tether::holders_report& rep) {
    EXPECT_EQ(rep.objects.size(), 1u);
    return rep.objects.empty() ? tether::held_object{} : rep.objects.front();
}

}  // namespace tether_test
