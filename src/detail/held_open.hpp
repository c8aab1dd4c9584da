// Portable, internal: the verdict for a pipe whose end-of-file did not come after the child it
// was made for exited (run()'s stuck pipes, the reads tied to a child in tether/tied.hpp).
#pragma once

#include <tether/run.hpp>

#include <string>
#include <string_view>

namespace tether::detail {

/// Who still holds the other end of the pipe `ours` (our read end) is: holders() of it, minus
/// us and the other read ends. `stream` names the pipe ("stdout"); `started_by` the child it
/// was made for ("sh (PID 4241, which exited)"). Never throws: a holders() failure is in the
/// verdict.
stuck_pipe describe_held_open(borrowed_handle ours, std::string_view stream, const std::string& started_by);

}  // namespace tether::detail
