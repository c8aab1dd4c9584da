# Installs tether for consumers: headers, the library, the CMake package (find_package(tether)
# -> tether::tether, C++20 as a usage requirement), tether.pc, and the tool with its man page.
# Components: `runtime` (the shared library), `development` (headers, static or shared library
# links, CMake package, pkg-config file), `cli` (bin/tether, man page). Packaging:
# cmake/packaging.cmake (CPack, Debian).
#
# A static and a shared build can be installed into the same prefix (scripts/package.sh does):
# each installs its own targets file (tether-static-targets.cmake / tether-shared-targets.cmake)
# and tetherConfig.cmake picks one (see cmake/tetherConfig.cmake.in).
include(CMakePackageConfigHelpers)

set(TETHER_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/tether CACHE STRING
    "Where tetherConfig.cmake is installed, relative to the prefix")
get_target_property(tether_type tether TYPE)
if(tether_type STREQUAL "SHARED_LIBRARY")
  set(tether_flavour shared)
else()
  set(tether_flavour static)
endif()

install(TARGETS tether EXPORT tether-targets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(DIRECTORY include/tether DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
        FILES_MATCHING PATTERN "*.hpp")
install(EXPORT tether-targets NAMESPACE tether:: FILE tether-${tether_flavour}-targets.cmake
        DESTINATION ${TETHER_INSTALL_CMAKEDIR} COMPONENT development)

configure_package_config_file(cmake/tetherConfig.cmake.in ${PROJECT_BINARY_DIR}/tetherConfig.cmake
                              INSTALL_DESTINATION ${TETHER_INSTALL_CMAKEDIR})
# The SONAME promises compatibility within a major version; so does find_package.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tetherConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tetherConfig.cmake ${PROJECT_BINARY_DIR}/tetherConfigVersion.cmake
        DESTINATION ${TETHER_INSTALL_CMAKEDIR} COMPONENT development)

# pkg-config: Cflags carry -std=c++20 because the headers need it and a .pc file has no other
# way to say so (CMake consumers get it as cxx_std_20). Libs.private: what a static link needs.
if(NOT WIN32)
  set(tether_pc_libs_private "-pthread")
  if(CMAKE_DL_LIBS)
    string(APPEND tether_pc_libs_private " -l${CMAKE_DL_LIBS}")
  endif()
  # Relocatable: the prefix is found from the .pc file's own place (${pcfiledir}), so an
  # installed tree works wherever `cmake --install --prefix` put it.
  file(RELATIVE_PATH tether_pc_to_prefix ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
  string(REGEX REPLACE "/$" "" tether_pc_to_prefix "${tether_pc_to_prefix}")
  configure_file(cmake/tether.pc.in ${PROJECT_BINARY_DIR}/tether.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/tether.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
          COMPONENT development)
endif()

if(TARGET tether_cli)
  install(TARGETS tether_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
  configure_file(docs/tether.1 ${PROJECT_BINARY_DIR}/tether.1 @ONLY)  # the version in .TH
  install(FILES ${PROJECT_BINARY_DIR}/tether.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT cli)
endif()

include(cmake/packaging.cmake)
