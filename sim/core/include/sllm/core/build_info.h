// What produced a result: the version and an id of the very build, recorded with every run and sweep
// point so that results of different builds are never mixed silently.
#pragma once

#include <string>

namespace sllm {

// The project version (CMake's PROJECT_VERSION).
const char* version();
// 16 hex digits identifying the running build: FNV-1a 64 of the bytes of the file holding this code (the
// executable, /proc/self/exe, or the shared object that links the libraries, such as the Python module),
// computed once. Any rebuild that changes code changes it; "unknown" when the file cannot be read.
const std::string& build_id();

}  // namespace sllm
