# `cmake --install`: headers, the static libraries and an exported CMake package, so C++ users
# build against arrowring with find_package(arrowring CONFIG) (docs/cpp.md). Not for pip
# installs, whose wheel holds only the Python extension.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(ARROWRING_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/arrowring")

# Public headers only: *_internal.h and test helpers stay in the source tree.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/src/arrowring/ring" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/arrowring"
        FILES_MATCHING PATTERN "*.h" PATTERN "*_internal.h" EXCLUDE PATTERN "test_*.h" EXCLUDE)
set_target_properties(arrowring_ring PROPERTIES EXPORT_NAME ring)
install(TARGETS arrowring_ring EXPORT arrowringRingTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(EXPORT arrowringRingTargets NAMESPACE arrowring:: DESTINATION "${ARROWRING_CMAKE_DIR}")

if(TARGET arrowring_ipc)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/src/arrowring/ipc" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/arrowring"
          FILES_MATCHING PATTERN "*.h" PATTERN "*_internal.h" EXCLUDE PATTERN "test_*.h" EXCLUDE)
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
