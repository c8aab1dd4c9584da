// Internal, portable: what every holders backend does once it has gathered the raw facts.
#pragma once

#include <tether/holders.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace tether::detail {

/// At most this many descriptors of one process are named in a sentence or a table; the rest
/// are counted ("and 2,997 more"), so the text stays bounded.
inline constexpr std::size_t max_listed_fds = 8;

/// A handle value as holders' words write it: "5" for a Linux descriptor, "0x1a4" for a
/// Windows handle (object_kind::named_pipe), as Windows tools show handles.
std::string handle_text(object_kind kind, std::int64_t handle);

/// A command line made printable (a newline in an argument would break the table) and cut to
/// `max` bytes for sentences and tables; the cut never splits a UTF-8 sequence. The JSON keeps
/// commands whole.
std::string shorten(std::string command, std::size_t max = 60);

/// The short form of a relation for the table's RELATION column: "grandchild", "descendant(4)".
std::string short_relation(relation r, int generations);

/// 2997 -> "2,997".
std::string grouped_number(std::size_t n);

/// Sorts the report (objects by handle, holders by PID then handle, not_inspected by PID) and fills
/// each object's verdict: what holders() does to the facts a backend collected.
void finish_holders_report(holders_report& report);

/// The sentence for one object (see held_object::verdict); `uninspected` is how many
/// processes could not be inspected, so a "nobody else" verdict can say it may be incomplete.
std::string holders_verdict(const held_object& object, std::size_t uninspected);

}  // namespace tether::detail
