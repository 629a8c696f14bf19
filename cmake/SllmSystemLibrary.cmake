# liburing and xxHash ship no CMake package. The build and the installed sllmsimConfig.cmake both make
# their imported targets here, so that the exported link interface names targets (resolved on the
# consumer's machine) rather than the library paths of the machine that built sllmsim.
#   sllm_import_system_library(TARGET HEADER LIBRARY)  defines TARGET when both are found
function(sllm_import_system_library target header library)
  if(TARGET ${target})
    return()
  endif()
  string(MAKE_C_IDENTIFIER "${target}" id)
  find_path(${id}_INCLUDE_DIR NAMES ${header})
  find_library(${id}_LIBRARY NAMES ${library})
  if(${id}_INCLUDE_DIR AND ${id}_LIBRARY)
    add_library(${target} UNKNOWN IMPORTED)
    set_target_properties(${target} PROPERTIES IMPORTED_LOCATION "${${id}_LIBRARY}"
                                               INTERFACE_INCLUDE_DIRECTORIES "${${id}_INCLUDE_DIR}")
  endif()
endfunction()
