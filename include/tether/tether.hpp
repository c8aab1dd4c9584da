// tether/tether.hpp — everything in one include.
#pragma once

#include <tether/channel.hpp>
#include <tether/error.hpp>
#include <tether/handle.hpp>
#include <tether/holders.hpp>
#include <tether/lines.hpp>
#include <tether/pipe.hpp>
#include <tether/poller.hpp>
#include <tether/run.hpp>
#include <tether/spawn.hpp>
#include <tether/terminal.hpp>
#include <tether/tied.hpp>
#include <tether/version.hpp>

/// The public API of tether. Internals live in tether::detail and are not part of it.
namespace tether {}
