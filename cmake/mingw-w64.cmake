# Cross-compiling tether for Windows (x86-64) with MinGW-w64 on Debian:
#   cmake -S . -B build-windows -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
# The "-posix" compiler variant is used because tether needs std::thread and std::mutex
# (the "-win32" thread model of Debian's MinGW has neither in GCC 12).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(TETHER_MINGW_PREFIX x86_64-w64-mingw32)
find_program(CMAKE_CXX_COMPILER NAMES ${TETHER_MINGW_PREFIX}-g++-posix ${TETHER_MINGW_PREFIX}-g++ REQUIRED)
find_program(CMAKE_C_COMPILER NAMES ${TETHER_MINGW_PREFIX}-gcc-posix ${TETHER_MINGW_PREFIX}-gcc)
find_program(CMAKE_RC_COMPILER NAMES ${TETHER_MINGW_PREFIX}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${TETHER_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Tests run the cross-built binaries under wine (scripts/windows-tests.sh sets up the prefix).
find_program(TETHER_WINE NAMES wine wine64)
if(TETHER_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${TETHER_WINE})
endif()
