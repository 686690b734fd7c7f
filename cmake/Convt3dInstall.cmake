# Installs the library, headers and CLI, and exports the package for find_package(convt3d);
# with the forward generator, the schedule knobs and the CMake code that
# convt3d_add_specialised_kernel() needs in another project.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CONVT3D_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/convt3d")
set(CONVT3D_SCHEDULE_INSTALL "${CMAKE_INSTALL_DATADIR}/convt3d/forward.json")
install(TARGETS convt3d EXPORT convt3dTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/runtime/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS convt3d_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

# The generator loads the Halide library it was built with: the installed copy keeps its
# absolute path (the project's .venv lies inside the source tree, which
# INSTALL_RPATH_USE_LINK_PATH would leave out).
set_target_properties(convt3d_generators PROPERTIES EXPORT_NAME forward_generator
                                                    INSTALL_RPATH "$<TARGET_FILE_DIR:Halide::Halide>")
install(TARGETS convt3d_generators EXPORT convt3dTargets
        RUNTIME DESTINATION "${CMAKE_INSTALL_LIBEXECDIR}/convt3d")
install(FILES "${CONVT3D_SCHEDULE_FILE}" DESTINATION "${CMAKE_INSTALL_DATADIR}/convt3d" RENAME forward.json)
install(FILES "${PROJECT_SOURCE_DIR}/cmake/Convt3dKernels.cmake" "${PROJECT_SOURCE_DIR}/cmake/Convt3dSpecialise.cmake"
        DESTINATION "${CONVT3D_CMAKE_DIR}")
install(EXPORT convt3dTargets NAMESPACE convt3d:: DESTINATION "${CONVT3D_CMAKE_DIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/convt3dConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/convt3dConfig.cmake"
                              INSTALL_DESTINATION "${CONVT3D_CMAKE_DIR}"
                              PATH_VARS CONVT3D_SCHEDULE_INSTALL)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/convt3dConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/convt3dConfig.cmake" "${PROJECT_BINARY_DIR}/convt3dConfigVersion.cmake"
        DESTINATION "${CONVT3D_CMAKE_DIR}")
