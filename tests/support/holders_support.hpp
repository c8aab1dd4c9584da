// Test support for tether::holders() with real processes (tests/linux/holders_test.cpp,
// tests/windows/holders_windows_test.cpp): a holder of a pipe's write end, started directly or
// through a middle process, and the checks both platforms make on a report.
//
// Roles (tests/support/holders_support.cpp): holders_hold keeps "w" open until the test closes
// its end of "release" (it reports its PID through "ready" first); holders_middle passes its
// handles on to a holders_hold and waits for it (a grandchild holder); holders_orphaner does the
// same but exits once the holder took its handles (a holder left behind).
#pragma once

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <system_error>

namespace tether_test {

/// The write end of a pipe given to a holder role (possibly through intermediaries).
struct held_pipe {
    tether::unique_handle read;
    tether::unique_handle release;  ///< reset() lets the holder exit
    tether::child proc;
    std::int64_t holder_pid{0};
};

/// `ours` stays with the test; `theirs` goes to `role` as "w". Returns once the holder said it
/// is ready (its PID read to end-of-file: no sleep).
held_pipe start_holder(const std::string& role, tether::unique_handle ours, tether::unique_handle theirs);

/// The same for the two ends of a new pipe: the read end stays here.
held_pipe start_holder(const std::string& role);

/// The report's one object (a test failure if there are more or none).
tether::held_object only_object(const tether::holders_report& rep);

/// The system_error `fn` throws (a test failure if it throws none).
template <typename Fn>
std::system_error error_of(Fn&& fn) {
    try {
        fn();
    } catch (const std::system_error& e) {
        return e;
    }
    ADD_FAILURE() << "no exception";
    return std::system_error(std::error_code());
}

}  // namespace tether_test
