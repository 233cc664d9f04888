# install.cmake - `cmake --install`: libraries, header, program, demo model,
# pkg-config file and CMake package; plus CTest checks of the public surface.
#
# Layout under the prefix (GNUInstallDirs):
#   bin/seqboat                                  the command-line program
#   <libdir>/libseqboat.so{,.0.3,.0.3.0}         shared library (only sb_ API exported)
#   <libdir>/libseqboat.a                        static library
#   include/seqboat.h                            the one public header
#   <libdir>/pkgconfig/seqboat.pc                pkg-config (absolute paths of the
#                                                actual install prefix)
#   <libdir>/cmake/seqboat/seqboatConfig*.cmake  find_package(seqboat): seqboat::seqboat,
#                                                seqboat::seqboat_static
#   share/seqboat/tiny-pystdlib.safetensors      demo model (SB_INSTALLED_MODEL)
#   share/doc/seqboat/                           API.md and the examples
# Kernels are embedded in the library: nothing else is read at run time.
include(CMakePackageConfigHelpers)

set(SB_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/seqboat)
set(SB_PKG_DIR ${CMAKE_BINARY_DIR}/package)

# ---- binaries and header ---------------------------------------------------
# seqboat::seqboat is exported with install(EXPORT). The static library is not
# in the export set: its private dependencies are pkg-config imported targets
# of this build, so seqboatConfig.cmake defines seqboat::seqboat_static by hand.
install(TARGETS seqboat EXPORT seqboatTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime
          NAMELINK_COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS seqboat_static
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development)
install(TARGETS seqboat_cli
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
install(FILES ${CMAKE_SOURCE_DIR}/include/seqboat.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT Development)
install(FILES ${CMAKE_SOURCE_DIR}/models/tiny-pystdlib.safetensors
  DESTINATION ${CMAKE_INSTALL_DATADIR}/seqboat COMPONENT Runtime)
if(EXISTS ${CMAKE_SOURCE_DIR}/docs/API.md)
  install(FILES ${CMAKE_SOURCE_DIR}/docs/API.md
    DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT Development)
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/examples)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/
    DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT Development
    FILES_MATCHING PATTERN "*.c" PATTERN "*.h" PATTERN "CMakeLists.txt" PATTERN "Makefile"
                   PATTERN "*.md" PATTERN "build*" EXCLUDE)
endif()

# ---- CMake package -----------------------------------------------------------
install(EXPORT seqboatTargets NAMESPACE seqboat::
  DESTINATION ${SB_CMAKE_DIR} COMPONENT Development)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/seqboatConfig.cmake.in
  ${SB_PKG_DIR}/seqboatConfig.cmake
  INSTALL_DESTINATION ${SB_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_DATADIR)
# 0.x: a minor release may change the API; from 1.0 on, the major version.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(SB_COMPAT SameMinorVersion)
else()
  set(SB_COMPAT SameMajorVersion)
endif()
write_basic_package_version_file(${SB_PKG_DIR}/seqboatConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${SB_COMPAT})
install(FILES ${SB_PKG_DIR}/seqboatConfig.cmake ${SB_PKG_DIR}/seqboatConfigVersion.cmake
  DESTINATION ${SB_CMAKE_DIR} COMPONENT Development)

# ---- pkg-config ----------------------------------------------------------------
# Configured at install time, so that `cmake --install build --prefix P` writes
# P (not the configure-time CMAKE_INSTALL_PREFIX) into the file.
foreach(d LIBDIR INCLUDEDIR DATADIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(SB_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(SB_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
install(CODE "
  set(SB_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(SB_PC_LIBDIR [==[${SB_PC_LIBDIR}]==])
  set(SB_PC_INCLUDEDIR [==[${SB_PC_INCLUDEDIR}]==])
  set(SB_PC_DATADIR [==[${SB_PC_DATADIR}]==])
  set(PROJECT_VERSION [==[${PROJECT_VERSION}]==])
  set(SB_PC_CLBLAST [==[${SB_PC_CLBLAST}]==])
  configure_file([==[${CMAKE_SOURCE_DIR}/cmake/seqboat.pc.in]==]
                 [==[${SB_PKG_DIR}/seqboat.pc]==] @ONLY)
" COMPONENT Development)
install(FILES ${SB_PKG_DIR}/seqboat.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT Development)

# ---- CTest: the public surface ---------------------------------------------------
if(SEQBOAT_BUILD_TESTS)
  # Exported dynamic symbols == the SB_API functions of seqboat.h.
  add_test(NAME package_symbols
    COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DLIB=$<TARGET_FILE:seqboat>
            -DHEADER=${CMAKE_SOURCE_DIR}/include/seqboat.h
            -P ${CMAKE_SOURCE_DIR}/cmake/check_symbols.cmake)
  # The header alone compiles as strict C99.
  file(WRITE ${SB_PKG_DIR}/header_only.c
    "#include <seqboat.h>\n"
    "int main(void) { return sb_status_string(SB_OK) != 0 ? 0 : 1; }\n")
  add_test(NAME package_header_c99
    COMMAND ${CMAKE_C_COMPILER} -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only
            -I${CMAKE_SOURCE_DIR}/include ${SB_PKG_DIR}/header_only.c)
  set_tests_properties(package_symbols package_header_c99 PROPERTIES TIMEOUT 60)
endif()
