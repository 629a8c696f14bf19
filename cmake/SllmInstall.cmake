# Installation (docs/architecture.md, "The installed package"):
#   cmake --install build [--prefix P] [--component cli|dev|python]
# cli:    bin/sllmsim (and, in a CUDA build, the module it loads, lib/libsllm_cuda.so)
# dev:    the static libraries, the public headers (each library's include/ folder; policies have none)
#         and lib/cmake/sllmsim/, so that find_package(sllmsim) gives the targets sllmsim::<library>,
#         sllmsim::sllmsim (everything, registrations included) and sllmsim::cli
# python: the Python package (python/CMakeLists.txt)
include(CMakePackageConfigHelpers)
set(SLLM_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/sllmsim)

set(SLLM_INSTALLED_LIBRARIES sllm_core sllm_sim sllm_sim_plugins sllm_models sllm_models_plugins sllm_traces
    sllm_policies sllm_calibrate sllm_replay)
foreach(lib ${SLLM_INSTALLED_LIBRARIES})
  string(REGEX REPLACE "^sllm_" "" export_name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${export_name})
endforeach()
set_target_properties(sllm_all PROPERTIES EXPORT_NAME sllmsim)
set_target_properties(sllmsim PROPERTIES EXPORT_NAME cli)

install(TARGETS ${SLLM_INSTALLED_LIBRARIES} sllm_all EXPORT sllmsimTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(DIRECTORY sim/core/include/ sim/include/ models/include/ traces/include/ calibrate/include/ replay/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev FILES_MATCHING PATTERN "*.h")
install(EXPORT sllmsimTargets NAMESPACE sllmsim:: DESTINATION ${SLLM_INSTALL_CMAKEDIR} COMPONENT dev)

# The CLI is its own export set, so that a dev-only install still loads (sllmsimConfig.cmake includes
# the CLI's targets file when that component is installed too).
install(TARGETS sllmsim EXPORT sllmsimCliTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
install(EXPORT sllmsimCliTargets NAMESPACE sllmsim:: DESTINATION ${SLLM_INSTALL_CMAKEDIR} COMPONENT cli)
if(TARGET sllm_cuda)
  # The CLI looks for its device modules beside itself, then along its RUNPATH.
  install(TARGETS sllm_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT cli)
  set_target_properties(sllmsim PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
endif()

# What the installed config file must find for the libraries' link interfaces.
set(SLLM_PACKAGE_NEEDS_CUDA OFF)
if(SLLM_HAVE_CUDA AND SLLM_STATIC)
  set(SLLM_PACKAGE_NEEDS_CUDA ON)  # the CUDA backend is linked into sllm_models_plugins
endif()
configure_package_config_file(cmake/sllmsimConfig.cmake.in ${PROJECT_BINARY_DIR}/sllmsimConfig.cmake
                              INSTALL_DESTINATION ${SLLM_INSTALL_CMAKEDIR})
# Before 1.0, minor versions may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sllmsimConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sllmsimConfig.cmake ${PROJECT_BINARY_DIR}/sllmsimConfigVersion.cmake
              cmake/SllmSystemLibrary.cmake
        DESTINATION ${SLLM_INSTALL_CMAKEDIR} COMPONENT dev)
