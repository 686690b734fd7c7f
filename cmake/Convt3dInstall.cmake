# Installs the library, headers and CLI, and exports the package for find_package(convt3d).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CONVT3D_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/convt3d")
install(TARGETS convt3d EXPORT convt3dTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/runtime/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS convt3d_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(EXPORT convt3dTargets NAMESPACE convt3d:: DESTINATION "${CONVT3D_CMAKE_DIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/convt3dConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/convt3dConfig.cmake"
                              INSTALL_DESTINATION "${CONVT3D_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/convt3dConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/convt3dConfig.cmake" "${PROJECT_BINARY_DIR}/convt3dConfigVersion.cmake"
        DESTINATION "${CONVT3D_CMAKE_DIR}")
