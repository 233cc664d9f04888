# hardening.cmake - sanitizer and fuzzing builds (included at the end of the
# top-level CMakeLists.txt, after every target exists).
#
#   -DSEQBOAT_SANITIZE=ON  every C target (library, CLI, tests) is compiled and
#                          linked with AddressSanitizer + UndefinedBehaviorSanitizer;
#                          undefined behaviour aborts (no recovery), and CTest runs
#                          the suites with the sanitizer options and the one
#                          suppression file tests/sanitizer/lsan.supp. Use a
#                          separate build folder (scripts/ci_sanitize.sh: build-asan).
#   -DSEQBOAT_FUZZ=ON      libFuzzer targets fuzz_model and fuzz_input, built from
#                          the host-side loader sources only (no OpenCL). Needs
#                          clang: -DCMAKE_C_COMPILER=clang (scripts/ci_fuzz.sh uses
#                          build-fuzz).
option(SEQBOAT_SANITIZE "Build every target with ASan + UBSan" OFF)
option(SEQBOAT_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

set(SB_SAN_COMPILE -fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
set(SB_SAN_LINK -fsanitize=address,undefined)
set(SB_SAN_DIR ${CMAKE_SOURCE_DIR}/tests/sanitizer)

if(SEQBOAT_SANITIZE)
  get_property(_sb_targets DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_t ${_sb_targets})
    get_target_property(_type ${_t} TYPE)
    if(_type MATCHES "^(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY|STATIC_LIBRARY|OBJECT_LIBRARY)$")
      target_compile_options(${_t} PRIVATE ${SB_SAN_COMPILE})
      if(_type MATCHES "^(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY)$")
        target_link_options(${_t} PRIVATE ${SB_SAN_LINK})
      endif()
    endif()
  endforeach()
  # Sanitizer options for every CTest test (appended to what the tests set).
  # exitcode 23: a report ends the process with 23 (the CLI tests expect 0 or 1);
  # CK_TIMEOUT_MULTIPLIER: the suites run several times slower instrumented.
  set(_sb_san_env
    "ASAN_OPTIONS=detect_leaks=1:exitcode=23:strict_string_checks=1:check_initialization_order=1"
    "LSAN_OPTIONS=suppressions=${SB_SAN_DIR}/lsan.supp:print_suppressions=0"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=23"
    "CK_TIMEOUT_MULTIPLIER=4")
  get_property(_sb_tests DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY TESTS)
  foreach(_t ${_sb_tests})
    set_property(TEST ${_t} APPEND PROPERTY ENVIRONMENT ${_sb_san_env})
  endforeach()
  message(STATUS "seqboat: ASan + UBSan on every target (suppressions in ${SB_SAN_DIR})")
endif()

if(SEQBOAT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SEQBOAT_FUZZ needs clang (libFuzzer): configure with "
                        "-DCMAKE_C_COMPILER=clang; this build uses ${CMAKE_C_COMPILER_ID}")
  endif()
  # The loader only: safetensors + model/input files + status/error helpers.
  set(_sb_fuzz_lib ${CMAKE_SOURCE_DIR}/runtime/safetensors.c
      ${CMAKE_SOURCE_DIR}/runtime/model_file.c ${CMAKE_SOURCE_DIR}/runtime/status.c)
  foreach(_f fuzz_model fuzz_input)
    add_executable(${_f} ${CMAKE_SOURCE_DIR}/tests/fuzz/${_f}.c ${_sb_fuzz_lib})
    target_include_directories(${_f} PRIVATE ${CMAKE_SOURCE_DIR}/runtime ${CMAKE_SOURCE_DIR}/include)
    target_compile_options(${_f} PRIVATE ${SB_WARN} -g -fsanitize=fuzzer,address,undefined
                           -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${_f} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${_f} PRIVATE PkgConfig::CJSON m)
  endforeach()
  message(STATUS "seqboat: libFuzzer targets fuzz_model, fuzz_input")
endif()
