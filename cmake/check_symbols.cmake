# check_symbols.cmake - the shared library exports exactly the public API.
#
#   cmake -DNM=<nm> -DLIB=<libseqboat.so> -DHEADER=<seqboat.h> -P check_symbols.cmake
#
# Fails when the dynamic symbol table defines
#   - a symbol that does not start with sb_ (other than the linker's own
#     _init, _fini, _edata, _end, __bss_start, ...), or
#   - an sb_ symbol that is not declared SB_API in seqboat.h (internal helpers
#     share the sb_ prefix, so the prefix alone proves nothing), or
# when a function declared SB_API in the header is missing from the library.
cmake_minimum_required(VERSION 3.25)
foreach(v NM LIB HEADER)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "check_symbols.cmake: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND "${NM}" -D --defined-only "${LIB}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D --defined-only ${LIB} failed (${rc}): ${err}")
endif()

# public names: every `SB_API <type> sb_name(` line of the header
file(STRINGS "${HEADER}" api_lines REGEX "^SB_API ")
set(public "")
foreach(line IN LISTS api_lines)
  if(line MATCHES "[ *](sb_[A-Za-z0-9_]+)[ ]*\\(")
    list(APPEND public "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(LENGTH public n_public)
if(n_public EQUAL 0)
  message(FATAL_ERROR "no SB_API declarations found in ${HEADER}")
endif()

set(linker_symbols _init _fini _edata _end __bss_start __bss_start__ __bss_end__ __end__
    _bss_end__ __data_start data_start _IO_stdin_used)
string(REPLACE "\n" ";" lines "${out}")
set(exported "")
set(bad "")
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  # "<address> <type> <name>[@version]"
  if(NOT line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) ([^ @]+)")
    list(APPEND bad "unparsed: ${line}")
    continue()
  endif()
  set(name "${CMAKE_MATCH_2}")
  if(name IN_LIST linker_symbols)
    continue()
  endif()
  list(APPEND exported "${name}")
  if(NOT name IN_LIST public)
    list(APPEND bad "${line}")
  endif()
endforeach()

set(missing "")
foreach(name IN LISTS public)
  if(NOT name IN_LIST exported)
    list(APPEND missing "${name}")
  endif()
endforeach()

list(LENGTH exported n_exported)
if(bad OR missing)
  string(REPLACE ";" "\n  " bad_text "${bad}")
  string(REPLACE ";" "\n  " missing_text "${missing}")
  message(FATAL_ERROR
    "${LIB}: exported symbols do not match the public API of ${HEADER}\n"
    "exported but not declared SB_API in the header:\n  ${bad_text}\n"
    "declared SB_API but not exported:\n  ${missing_text}")
endif()
message(STATUS "${LIB}: ${n_exported} exported symbols, all declared SB_API in "
               "${HEADER} (${n_public} declarations); nothing else is visible")
