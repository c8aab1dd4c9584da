# .NET 10 interop: tests/dotnet10 is a C# program that the test suite (tests/linux/
# dotnet10_interop_test.cpp) and `tether demo` run with the real .NET runtime. It is built with
# `dotnet build` when a .NET SDK 10 or later is found; otherwise TETHER_DOTNET_SKIP_REASON says
# why not, and those tests skip with it. Sets:
#   TETHER_DOTNET_INTEROP_DLL   the built TetherInterop.dll (empty when not built)
#   TETHER_DOTNET_SKIP_REASON   why it was not built (empty when built)
#   TETHER_DOTNET_EXECUTABLE    the dotnet that built it, which runs it
# tether_dotnet_build(csproj artifacts dll_variable), which builds a C# project (used here and
# by bench/peers/dotnet), and tether_use_dotnet_interop(target sources...), which passes the
# three to those sources.
include_guard(GLOBAL)  # the top level and bench/peers/dotnet both include it
option(TETHER_DOTNET "Build tests/dotnet10 with the .NET SDK when `dotnet` (10 or later) is found" ON)

set(TETHER_DOTNET_INTEROP_DLL "")
set(TETHER_DOTNET_SKIP_REASON "")
if(WIN32)
  set(TETHER_DOTNET_SKIP_REASON "the .NET 10 interop program is built for Linux only")
elseif(NOT TETHER_DOTNET)
  set(TETHER_DOTNET_SKIP_REASON "this build of tether was made without the .NET 10 interop program (-DTETHER_DOTNET=OFF)")
else()
  find_program(TETHER_DOTNET_EXECUTABLE dotnet DOC "the .NET SDK's dotnet (10 or later)")
  if(NOT TETHER_DOTNET_EXECUTABLE)
    set(TETHER_DOTNET_SKIP_REASON "dotnet (the .NET 10 SDK) was not in PATH when CMake ran")
  else()
    execute_process(COMMAND ${CMAKE_COMMAND} -E env DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
                            DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 ${TETHER_DOTNET_EXECUTABLE} --version
                    OUTPUT_VARIABLE tether_dotnet_version OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE tether_dotnet_result ERROR_QUIET TIMEOUT 60)
    if(NOT tether_dotnet_result EQUAL 0 OR NOT tether_dotnet_version MATCHES "^[0-9]+\\.")
      set(TETHER_DOTNET_SKIP_REASON "${TETHER_DOTNET_EXECUTABLE} --version failed (no .NET SDK installed?)")
    elseif(tether_dotnet_version VERSION_LESS 10)
      set(TETHER_DOTNET_SKIP_REASON "the .NET SDK is ${tether_dotnet_version}; tests/dotnet10 needs 10 or later")
    endif()
  endif()
endif()

# tether_dotnet_build(<csproj> <artifacts-dir> <dll-variable>): the one way tether runs
# `dotnet build -c Release` (tests/dotnet10 here, the .NET peer in bench/peers/dotnet). The
# project's folder holds <Name>.csproj, Program.cs and NuGet.config, the inputs the build
# depends on; the dll, <artifacts-dir>/bin/<Name>/release/<Name>.dll, is set in <dll-variable>
# of the caller. Call it only where TETHER_DOTNET_SKIP_REASON is empty.
#
# Everything dotnet writes stays in the build tree: bin/ and obj/ (--artifacts-path) and its
# first-run files and NuGet folders (DOTNET_CLI_HOME), so a read-only HOME is no obstacle.
# --disable-build-servers: no MSBuild node or compiler server outlives the build (one would
# keep ninja's output pipe, and a lock the build runs under, open).
function(tether_dotnet_build csproj artifacts dll_variable)
  get_filename_component(name ${csproj} NAME_WE)
  get_filename_component(dir ${csproj} DIRECTORY)
  file(RELATIVE_PATH shown ${PROJECT_SOURCE_DIR} ${csproj})
  set(dll ${artifacts}/bin/${name}/release/${name}.dll)
  add_custom_command(
    OUTPUT ${dll}
    COMMAND ${CMAKE_COMMAND} -E env DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
            DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_CLI_HOME=${PROJECT_BINARY_DIR}/dotnet-home
            ${TETHER_DOTNET_EXECUTABLE} build ${csproj}
            -c Release --artifacts-path ${artifacts} --disable-build-servers -nologo -v:q
    # MSBuild leaves an up-to-date dll untouched: without this, ninja would rebuild it each time.
    COMMAND ${CMAKE_COMMAND} -E touch ${dll}
    DEPENDS ${dir}/Program.cs ${csproj} ${dir}/NuGet.config
    JOB_POOL tether_dotnet
    COMMENT "dotnet build -c Release ${shown}"
    VERBATIM)
  set(${dll_variable} ${dll} PARENT_SCOPE)
endfunction()

if(TETHER_DOTNET_SKIP_REASON)
  message(STATUS "tether: .NET 10 interop not built: ${TETHER_DOTNET_SKIP_REASON}")
else()
  message(STATUS "tether: .NET SDK ${tether_dotnet_version} found: tests/dotnet10 is built")
  # One dotnet build at a time, even beside the peer benchmark's (bench/peers/dotnet): two at
  # once in one build tree would share DOTNET_CLI_HOME's first-run and NuGet files.
  set_property(GLOBAL APPEND PROPERTY JOB_POOLS tether_dotnet=1)
  set(tether_dotnet_artifacts ${PROJECT_BINARY_DIR}/dotnet10)
  tether_dotnet_build(${PROJECT_SOURCE_DIR}/tests/dotnet10/TetherInterop.csproj ${tether_dotnet_artifacts}
                      TETHER_DOTNET_INTEROP_DLL)
  add_custom_target(tether_dotnet_interop DEPENDS ${TETHER_DOTNET_INTEROP_DLL})
endif()

# Gives the `sources` of `target` TETHER_DOTNET_INTEROP_DLL, TETHER_DOTNET_SKIP_REASON (always
# both, one of them empty, so the code needs no #ifdef) and TETHER_DOTNET_EXECUTABLE, and builds
# the program before `target`. Per source file, so that a change of SDK recompiles only those.
function(tether_use_dotnet_interop target)
  set(tether_dotnet_executable "")
  if(TARGET tether_dotnet_interop)
    add_dependencies(${target} tether_dotnet_interop)
    set(tether_dotnet_executable ${TETHER_DOTNET_EXECUTABLE})
  endif()
  set_property(SOURCE ${ARGN} APPEND PROPERTY COMPILE_DEFINITIONS
               TETHER_DOTNET_INTEROP_DLL="${TETHER_DOTNET_INTEROP_DLL}"
               TETHER_DOTNET_SKIP_REASON="${TETHER_DOTNET_SKIP_REASON}"
               TETHER_DOTNET_EXECUTABLE="${tether_dotnet_executable}")
endfunction()
