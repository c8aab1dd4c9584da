// Internal, POSIX only: switches that let tests drive the run-time fallbacks of spawn().
#pragma once

namespace tether::detail {

/// Forces the fallback used when posix_spawn_file_actions_addclosefrom_np is missing
/// (glibc < 2.34) or refused at run time: stray descriptors are listed from /proc/self/fd in
/// the parent and closed one by one in the child.
void force_closefrom_fallback(bool on) noexcept;

}  // namespace tether::detail
