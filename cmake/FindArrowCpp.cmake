# FindArrowCpp — locate Arrow C++ 26 and define imported targets.
#
#   ArrowCpp::arrow     libarrow           (core, IPC, CSV, JSON)
#   ArrowCpp::parquet   libparquet         (when present)
#   ArrowCpp::flight    libarrow_flight    (when present; the bridge needs it)
#   ArrowCpp::python    libarrow_python    (pyarrow wheel only: pyarrow's C++ API, with which the
#                                           Python extension hands tables to pyarrow as they are)
#
# Order of preference:
#   1. find_package(Arrow CONFIG): a system, conda or source install with ArrowConfig.cmake.
#   2. The pyarrow wheel in a Python environment (default: the project's .venv). The wheel
#      ships headers under pyarrow.get_include() and the libraries under their versioned
#      names only (libarrow.so.<so_version>, no ArrowConfig.cmake), so the targets point
#      IMPORTED_LOCATION at those files. Linking by absolute path makes CMake put the
#      pyarrow folder into the build RPATH, so binaries run without LD_LIBRARY_PATH.
#
# Inputs:  ARROWRING_PYTHON — interpreter whose pyarrow to use (cache variable).
# Outputs: ArrowCpp_FOUND, ArrowCpp_VERSION, ArrowCpp_SOURCE ("config" or "pyarrow-wheel"),
#          ArrowCpp_LIBRARY_DIR (folder of libarrow, for install RPATHs).

set(_arrowcpp_required_major 26)

if(NOT ARROWRING_FORCE_PYARROW_WHEEL)
  find_package(Arrow ${_arrowcpp_required_major} CONFIG QUIET)
endif()

if(Arrow_FOUND)
  set(ArrowCpp_VERSION ${Arrow_VERSION})
  set(ArrowCpp_SOURCE "config")
  if(TARGET Arrow::arrow_shared AND NOT TARGET ArrowCpp::arrow)
    add_library(ArrowCpp::arrow ALIAS Arrow::arrow_shared)
  endif()
  find_package(Parquet CONFIG QUIET)
  if(TARGET Parquet::parquet_shared AND NOT TARGET ArrowCpp::parquet)
    add_library(ArrowCpp::parquet ALIAS Parquet::parquet_shared)
  endif()
  find_package(ArrowFlight CONFIG QUIET)
  if(TARGET ArrowFlight::arrow_flight_shared AND NOT TARGET ArrowCpp::flight)
    add_library(ArrowCpp::flight ALIAS ArrowFlight::arrow_flight_shared)
  endif()
  get_target_property(_arrowcpp_location Arrow::arrow_shared LOCATION)
  get_filename_component(ArrowCpp_LIBRARY_DIR "${_arrowcpp_location}" DIRECTORY)
else()
  if(NOT ARROWRING_PYTHON)
    if(EXISTS "${PROJECT_SOURCE_DIR}/.venv/bin/python")
      set(ARROWRING_PYTHON "${PROJECT_SOURCE_DIR}/.venv/bin/python")
    else()
      find_program(ARROWRING_PYTHON NAMES python3 python)
    endif()
  endif()
  set(ARROWRING_PYTHON "${ARROWRING_PYTHON}" CACHE FILEPATH "Python interpreter whose pyarrow wheel provides Arrow C++")

  execute_process(
    COMMAND "${ARROWRING_PYTHON}" -c
      "import os, pyarrow as pa; i = pa.cpp_build_info; print(pa.get_include()); print(os.path.dirname(pa.__file__)); print(i.version); print(i.so_version)"
    RESULT_VARIABLE _arrowcpp_rc
    OUTPUT_VARIABLE _arrowcpp_out
    ERROR_VARIABLE _arrowcpp_err
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_arrowcpp_rc EQUAL 0)
    string(REPLACE "\n" ";" _arrowcpp_lines "${_arrowcpp_out}")
    list(GET _arrowcpp_lines 0 ArrowCpp_INCLUDE_DIR)
    list(GET _arrowcpp_lines 1 ArrowCpp_LIBRARY_DIR)
    list(GET _arrowcpp_lines 2 ArrowCpp_VERSION)
    list(GET _arrowcpp_lines 3 _arrowcpp_so_version)
    set(ArrowCpp_SOURCE "pyarrow-wheel")
    find_file(ArrowCpp_LIBRARY "libarrow.so.${_arrowcpp_so_version}"
      PATHS "${ArrowCpp_LIBRARY_DIR}" NO_DEFAULT_PATH NO_CACHE)
    if(ArrowCpp_LIBRARY AND NOT TARGET ArrowCpp::arrow)
      add_library(ArrowCpp::arrow SHARED IMPORTED GLOBAL)
      set_target_properties(ArrowCpp::arrow PROPERTIES
        IMPORTED_LOCATION "${ArrowCpp_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${ArrowCpp_INCLUDE_DIR}"
        INTERFACE_COMPILE_FEATURES cxx_std_20)
    endif()
    # The wheel's other libraries, each where present (target name, then library name). They
    # link the same libarrow.so.<so_version> by its soname: one libarrow per process.
    # libarrow_python is pyarrow's own C++ API (arrow/python/pyarrow.h), which pyarrow.lib has
    # loaded already in any process that imported pyarrow; it resolves Python's symbols from the
    # interpreter.
    foreach(_arrowcpp_part IN ITEMS "parquet;parquet" "flight;arrow_flight" "python;arrow_python")
      list(GET _arrowcpp_part 0 _arrowcpp_target)
      list(GET _arrowcpp_part 1 _arrowcpp_name)
      find_file(_arrowcpp_part_library "lib${_arrowcpp_name}.so.${_arrowcpp_so_version}"
        PATHS "${ArrowCpp_LIBRARY_DIR}" NO_DEFAULT_PATH NO_CACHE)
      if(_arrowcpp_part_library AND NOT TARGET ArrowCpp::${_arrowcpp_target})
        add_library(ArrowCpp::${_arrowcpp_target} SHARED IMPORTED GLOBAL)
        set_target_properties(ArrowCpp::${_arrowcpp_target} PROPERTIES
          IMPORTED_LOCATION "${_arrowcpp_part_library}"
          INTERFACE_LINK_LIBRARIES ArrowCpp::arrow)
      endif()
      unset(_arrowcpp_part_library)
    endforeach()
  else()
    set(_arrowcpp_why "${ARROWRING_PYTHON} could not import pyarrow: ${_arrowcpp_err}")
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ArrowCpp
  REQUIRED_VARS ArrowCpp_SOURCE ArrowCpp_VERSION
  VERSION_VAR ArrowCpp_VERSION
  REASON_FAILURE_MESSAGE
    "No ArrowConfig.cmake for Arrow ${_arrowcpp_required_major} and no usable pyarrow wheel. ${_arrowcpp_why} Run `make build` (it creates .venv with pyarrow==26.0.*) or pass -DARROWRING_PYTHON=/path/to/python.")
if(ArrowCpp_FOUND AND NOT TARGET ArrowCpp::arrow)
  message(FATAL_ERROR "Arrow ${ArrowCpp_VERSION} found (${ArrowCpp_SOURCE}) but libarrow was not: expected it in ${ArrowCpp_LIBRARY_DIR}")
endif()
