# Helpers for declaring Wisp's libraries, binaries and tests with one shape.
#
#   wisp_library(NAME SRCS a.cc b.cc DEPS x y)    -> static library NAME
#   wisp_binary(NAME SRCS main.cc DEPS x)          -> executable in build/bin
#   wisp_test(NAME SRCS a_test.cc DEPS x [LABELS l] [ENV K=V ...])
#                                                  -> gtest binary registered with CTest

set(WISP_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

function(wisp_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${WISP_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

function(wisp_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${WISP_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

function(wisp_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${WISP_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  # Test scratch lives in the build tree, not /tmp, so that the worker's private /tmp mount
  # (which hides the host's /tmp from runtimes) is exercised by the tests.
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/test-tmp)
  set(env "WISP_BIN_DIR=${CMAKE_BINARY_DIR}/bin" "WISP_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
      "TMPDIR=${CMAKE_BINARY_DIR}/test-tmp" ${ARG_ENV})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${env}")
endfunction()
