# ctest runs each Catch test case by name (catch_discover_tests), and CMake
# splits a name at ';' into two tests that match nothing and pass without
# running; a '[' or ']' in a name makes CMake's list parsing glue the names
# after it into one test that matches nothing. This check fails on any
# TEST_CASE name with one of them, including names written as several string
# literals.
# Run as: cmake -DROOT=<source dir> -P tests/test_names_check.cmake
file(GLOB_RECURSE sources ${ROOT}/tests/*.cc)
set(bad "")
set(count 0)
foreach(src ${sources})
  file(READ ${src} text)
  # The name: the string literals between TEST_CASE( and the first tag or ')'.
  string(REGEX MATCHALL "TEST_CASE\\([ \t\r\n]*(\"[^\"]*\"[ \t\r\n]*)+" names "${text}")
  foreach(name IN LISTS names)
    math(EXPR count "${count} + 1")
  endforeach()
  # Names without ';', '[' and ']' (a match holding one counts differently).
  string(REGEX MATCHALL "TEST_CASE\\([ \t\r\n]*(\"[^]\";[]*\"[ \t\r\n]*)+" clean "${text}")
  list(LENGTH names n_all)
  list(LENGTH clean n_clean)
  if(NOT n_all EQUAL n_clean)
    list(APPEND bad ${src})
  endif()
endforeach()
if(count LESS 100)
  message(FATAL_ERROR "found only ${count} TEST_CASE names under ${ROOT}/tests: is ROOT right?")
endif()
if(bad)
  string(REPLACE ";" "\n  " listing "${bad}")
  message(FATAL_ERROR "TEST_CASE names with ';', '[' or ']' (ctest would not run them):\n  ${listing}")
endif()
message(STATUS "${count} test names checked")
