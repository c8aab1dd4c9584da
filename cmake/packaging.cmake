# CPack: Debian packages from the install components (cmake/install.cmake).
#   libtether0     runtime     the shared library, libtether.so.MAJOR
#   libtether-dev  development headers, libtether.a, the libtether.so link, CMake package, tether.pc
#   tether         cli         bin/tether (linked statically with tether) and its man page
# One package set holds a static and a shared build: scripts/package.sh configures both and runs
# cpack over the two build trees (CPACK_INSTALL_CMAKE_PROJECTS).
set(CPACK_PACKAGE_NAME tether)
set(CPACK_PACKAGE_VENDOR "tether developers")
set(CPACK_PACKAGE_CONTACT "tether developers <tether@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_README ${PROJECT_SOURCE_DIR}/README.md)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_COMPONENTS_ALL runtime development cli)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # dpkg-shlibdeps (dpkg-dev) fills in libc6, libstdc++6
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libtether${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "tether: child processes over anonymous pipes (shared library)")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libtether-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libtether${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
    "tether: child processes over anonymous pipes (headers, static library, CMake and pkg-config files)")
set(CPACK_DEBIAN_CLI_PACKAGE_NAME tether)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_CLI_DESCRIPTION
    "tether: the command-line tool (tether demo, tether holders: who holds my pipe?)")
include(CPack)
