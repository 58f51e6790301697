# ctest's install_consumer: install the build into a scratch prefix, check that the installed
# headers are exactly those docs/cpp.md lists under "Installed headers" (so no internal header
# or test helper is installed, and nothing documented is missing), then configure, build and
# run tests/install_consumer, which includes only the umbrella header, against it. Everything
# happens under the build directory and is removed afterwards.
set(scratch "${BUILD_DIR}/install-consumer-test")
file(REMOVE_RECURSE "${scratch}")
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    file(REMOVE_RECURSE "${scratch}")
    message(FATAL_ERROR "${what} failed (${result}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()
run_step("cmake --install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${scratch}/prefix")

file(READ "${DOCS}" docs)
string(REGEX MATCH "## Installed headers\n.*" section "${docs}")
string(REGEX REPLACE "\n## .*" "" section "${section}")
string(REGEX MATCHALL "`arrowring/[a-z_/]+\\.h`" documented "${section}")
list(TRANSFORM documented REPLACE "`" "")
list(REMOVE_DUPLICATES documented)
list(SORT documented)
file(GLOB_RECURSE installed RELATIVE "${scratch}/prefix/include" "${scratch}/prefix/include/*")
list(SORT installed)
if(NOT documented)
  file(REMOVE_RECURSE "${scratch}")
  message(FATAL_ERROR "${DOCS} lists no installed headers under \"## Installed headers\"")
endif()
if(NOT installed STREQUAL documented)
  file(REMOVE_RECURSE "${scratch}")
  message(FATAL_ERROR "installed headers differ from those ${DOCS} documents:\n"
                      "installed:  ${installed}\ndocumented: ${documented}")
endif()
run_step("configuring the consumer" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${scratch}/build" -G Ninja
         "-DCMAKE_PREFIX_PATH=${scratch}/prefix" "-DARROWRING_PYTHON=${PYTHON}")
run_step("building the consumer" "${CMAKE_COMMAND}" --build "${scratch}/build")
run_step("running the consumer" "${scratch}/build/consumer")
file(REMOVE_RECURSE "${scratch}")
if(NOT step_output MATCHES "ok")
  message(FATAL_ERROR "the consumer printed: ${step_output}")
endif()
message(STATUS "installed arrowring: consumer built and ran")
