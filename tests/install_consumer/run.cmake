# ctest's install_consumer: install the build into a scratch prefix, then configure, build and
# run tests/install_consumer against it. Everything happens under the build directory and is
# removed afterwards.
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
run_step("configuring the consumer" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${scratch}/build" -G Ninja
         "-DCMAKE_PREFIX_PATH=${scratch}/prefix" "-DARROWRING_PYTHON=${PYTHON}")
run_step("building the consumer" "${CMAKE_COMMAND}" --build "${scratch}/build")
run_step("running the consumer" "${scratch}/build/consumer")
file(REMOVE_RECURSE "${scratch}")
if(NOT step_output MATCHES "ok")
  message(FATAL_ERROR "the consumer printed: ${step_output}")
endif()
message(STATUS "installed arrowring: consumer built and ran")
