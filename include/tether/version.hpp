// tether/version.hpp — the version of tether. The single source of the project version: the
// top-level CMakeLists.txt reads it from here (project(VERSION), the SONAME libtether.so.MAJOR,
// tetherConfigVersion.cmake, tether.pc and the Debian packages follow).
#pragma once

/// Major version: changes when the API or the ABI breaks (the shared library's SONAME is
/// libtether.so.MAJOR).
#define TETHER_VERSION_MAJOR 0
/// Minor version: new, compatible capabilities.
#define TETHER_VERSION_MINOR 1
/// Patch version: fixes.
#define TETHER_VERSION_PATCH 0
/// "MAJOR.MINOR.PATCH" of the headers in use.
#define TETHER_VERSION_STRING "0.1.0"

namespace tether {

/// The version of the tether library the program is linked with ("0.1.0"); compare it with
/// TETHER_VERSION_STRING, the headers' version, to catch a program built against other headers.
/// @returns a static, NUL-terminated string.
const char* library_version() noexcept;

}  // namespace tether
