// Linux: writing to a pipe whose reader is gone is errc::peer_gone and never kills the process,
// even with SIGPIPE at its default; tether leaves the disposition, the thread's mask and the
// pending set as it found them (unless asked to ignore SIGPIPE: tether_ignored, which must also
// leave spawned children with SIGPIPE at its default). Each case runs in a child role process
// so the test binary's own signal state cannot mask a failure.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <pthread.h>
#include <string>

namespace {

volatile sig_atomic_t handler_calls = 0;
void count_sigpipe(int) { handler_calls = handler_calls + 1; }

bool blocked_in_thread() {
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, nullptr, &cur);
    return sigismember(&cur, SIGPIPE) == 1;
}

bool pending() {
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, SIGPIPE) == 1;
}

void (*disposition())(int) {
    struct sigaction sa {};
    sigaction(SIGPIPE, nullptr, &sa);
    return sa.sa_handler;
}

// Three writes into a pipe with no reader: error_code, throwing and timed overloads.
int write_to_gone_reader() {
    auto [r, w] = tether::make_pipe();
    r.reset();
    std::string_view text = "nobody listens";
    auto data = std::as_bytes(std::span(text.data(), text.size()));
    std::error_code ec;
    tether::write_all(w, data, ec);
    if (ec != tether::errc::peer_gone) return 10;
    try {
        tether::write_all(w, text);
        return 11;
    } catch (const std::system_error& e) {
        if (e.code() != tether::errc::peer_gone) return 12;
    }
    (void)tether::write_all_for(w, data, std::chrono::seconds(5), ec);
    if (ec != tether::errc::peer_gone) return 13;
    return 0;
}

// A child spawned now: does it start with SIGPIPE ignored? (SigIgn in /proc/self/status is a
// hexadecimal mask; bit SIGPIPE - 1.)
bool child_ignores_sigpipe() {
    tether::spawn_options opt;
    opt.argv = {"/bin/cat", "/proc/self/status"};
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    std::string status = tether::take_stdout_text(c);
    c.wait();
    auto at = status.find("SigIgn:");
    if (at == std::string::npos) return true;  // cannot tell: count it as the failure
    unsigned long long mask = std::stoull(status.substr(at + 7), nullptr, 16);
    return (mask >> (SIGPIPE - 1) & 1) != 0;
}

}  // namespace

// args[0]: default | ignored | handler | blocked | blocked_pending | tether_ignored
TETHER_CHILD_ROLE(sigpipe_check) {
    const std::string mode = args.at(0);
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    void (*expect_handler)(int) = SIG_DFL;
    if (mode == "ignored") expect_handler = SIG_IGN;
    if (mode == "handler") expect_handler = count_sigpipe;
    if (mode == "tether_ignored") {
        expect_handler = SIG_IGN;
        tether::ignore_sigpipe();  // SIG_IGN, and tether's writes drop their guard
    } else {
        std::signal(SIGPIPE, expect_handler);
    }
    bool expect_blocked = mode == "blocked" || mode == "blocked_pending";
    pthread_sigmask(expect_blocked ? SIG_BLOCK : SIG_UNBLOCK, &pipe_set, nullptr);
    if (mode == "blocked_pending") pthread_kill(pthread_self(), SIGPIPE);  // the caller's own signal
    if (int rc = write_to_gone_reader()) return rc;
    if (disposition() != expect_handler) return 20;
    if (blocked_in_thread() != expect_blocked) return 21;
    if (pending() != (mode == "blocked_pending")) return 22;
    if (handler_calls != 0) return 23;
    if (mode == "tether_ignored" && child_ignores_sigpipe()) return 25;
    if (mode == "blocked_pending") {  // consume it so the role exits cleanly
        timespec zero{};
        if (sigtimedwait(&pipe_set, nullptr, &zero) != SIGPIPE) return 24;
    }
    return 0;
}

class Sigpipe : public testing::TestWithParam<const char*> {};

TEST_P(Sigpipe, PeerGoneAndTheSignalStateIsUnchanged) {
    auto c = tether::spawn(tether_test::role_options("sigpipe_check", {GetParam()}));
    auto st = c.wait();
    EXPECT_TRUE(st.exited()) << "the process was killed: " << st.describe();
    EXPECT_EQ(st.code, 0) << "10-13: not peer_gone; 20: disposition changed; 21: mask changed; "
                             "22: SIGPIPE left pending or the caller's own pending one consumed; "
                             "23: the user's handler ran; 25: a child of tether_ignored "
                             "started with SIGPIPE ignored";
}

INSTANTIATE_TEST_SUITE_P(Modes, Sigpipe,
                         testing::Values("default", "ignored", "handler", "blocked", "blocked_pending",
                                         "tether_ignored"));

TEST(SigpipeInProcess, TheTestProcessSurvivesToo) {
    // The test binary itself runs with SIGPIPE at whatever the runner gave it; in any case the
    // write reports peer_gone and leaves no SIGPIPE pending in this thread.
    auto [r, w] = tether::make_pipe();
    r.reset();
    std::error_code ec;
    tether::write_all(w, std::as_bytes(std::span("x", 1)), ec);
    EXPECT_EQ(ec, tether::errc::peer_gone);
    EXPECT_FALSE(pending());
}
