# `cmake --install`: headers, the static libraries and an exported CMake package, so C++ users
# build against arrowring with find_package(arrowring CONFIG) (docs/cpp.md). Not for pip
# installs, whose wheel holds only the Python extension.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(ARROWRING_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/arrowring")

# The public headers, by name: exactly these are installed (docs/cpp.md lists them, and
# tests/install_consumer checks the installed set against this list). Internal headers
# (ring/internal/, ipc/internal/) and test helpers (test_*.h, loan_testing.h) stay in the
# source tree.
set(ARROWRING_PUBLIC_RING_HEADERS error.h handle.h layout.h ring.h spin.h streaming_copy.h)
set(ARROWRING_PUBLIC_IPC_HEADERS ipc.h loan.h pubsub.h record_batch_reader.h ring_output_stream.h ring_status.h
    stream_decoder.h stream_encoder.h)
list(TRANSFORM ARROWRING_PUBLIC_RING_HEADERS PREPEND "${PROJECT_SOURCE_DIR}/src/arrowring/ring/"
     OUTPUT_VARIABLE ring_headers)
install(FILES ${ring_headers} DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/arrowring/ring")
set_target_properties(arrowring_ring PROPERTIES EXPORT_NAME ring)
install(TARGETS arrowring_ring EXPORT arrowringRingTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(EXPORT arrowringRingTargets NAMESPACE arrowring:: DESTINATION "${ARROWRING_CMAKE_DIR}")

if(TARGET arrowring_ipc)
  list(TRANSFORM ARROWRING_PUBLIC_IPC_HEADERS PREPEND "${PROJECT_SOURCE_DIR}/src/arrowring/ipc/"
       OUTPUT_VARIABLE ipc_headers)
  install(FILES ${ipc_headers} DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/arrowring/ipc")
  # The umbrella header includes the Arrow layer, so it comes with it.
  install(FILES "${PROJECT_SOURCE_DIR}/src/arrowring/arrowring.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/arrowring")
  set_target_properties(arrowring_ipc PROPERTIES EXPORT_NAME ipc)
  install(TARGETS arrowring_ipc EXPORT arrowringIpcTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
  install(EXPORT arrowringIpcTargets NAMESPACE arrowring:: DESTINATION "${ARROWRING_CMAKE_DIR}")
  install(FILES "${PROJECT_SOURCE_DIR}/cmake/FindArrowCpp.cmake" DESTINATION "${ARROWRING_CMAKE_DIR}")
endif()

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/arrowringConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/arrowringConfig.cmake" INSTALL_DESTINATION "${ARROWRING_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/arrowringConfigVersion.cmake" COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/arrowringConfig.cmake" "${PROJECT_BINARY_DIR}/arrowringConfigVersion.cmake"
        DESTINATION "${ARROWRING_CMAKE_DIR}")
