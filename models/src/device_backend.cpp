// The registry of device backends, and the loading of a backend module on first use.
#include "sllm/models/device_backend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <stdexcept>

namespace sllm::models {
namespace {

struct Backends {
  std::recursive_mutex mu;  // a module's static initialiser registers while device_backend() holds it
  std::map<std::string, std::unique_ptr<DeviceBackend>, std::less<>> by_name;
  std::map<std::string, std::string, std::less<>> load_errors;  // tried once per process
};
Backends& backends() {
  static Backends b;
  return b;
}

const DeviceBackend* find_locked(Backends& b, std::string_view name) {
  auto it = b.by_name.find(name);
  return it == b.by_name.end() ? nullptr : it->second.get();
}

#if defined(SLLM_BACKEND_MODULES)
std::string executable_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<std::size_t>(n));
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}
#endif

// dlopen()s libsllm_<name>.so from the executable's directory, then by the executable's RUNPATH (the
// test executables, one directory down, find the module that way). Returns "" or why it failed.
std::string load_module(Backends& b, std::string_view name) {
#if defined(SLLM_BACKEND_MODULES)
  const std::string file = "libsllm_" + std::string(name) + ".so";
  const std::string beside = executable_dir() + "/" + file;
  std::string why;
  for (const std::string& path : {beside, file}) {
    if (path == beside && ::access(path.c_str(), F_OK) != 0) continue;
    // RTLD_NOW: a module that does not fit this executable fails here, with the missing symbol named.
    if (::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {  // never closed: the backend lives until exit
      if (find_locked(b, name)) return {};
      return path + " was loaded but registered no backend '" + std::string(name) + "'";
    }
    const char* err = ::dlerror();
    why = err ? err : path + ": dlopen failed";
  }
  return "cannot load " + file + " (looked in " + executable_dir() + " and the executable's RUNPATH): " + why;
#else
  (void)b;
  (void)name;
  return "it is not linked into this static build";
#endif
}

}  // namespace

void register_device_backend(std::unique_ptr<DeviceBackend> backend) {
  Backends& b = backends();
  std::lock_guard lock(b.mu);
  const std::string name(backend->name());
  b.by_name[name] = std::move(backend);
}

const DeviceBackend& device_backend(std::string_view name) {
  Backends& b = backends();
  std::lock_guard lock(b.mu);
  if (const DeviceBackend* found = find_locked(b, name)) return *found;
  auto tried = b.load_errors.find(name);
  std::string why = tried != b.load_errors.end() ? tried->second : load_module(b, name);
  if (why.empty()) return *find_locked(b, name);
  b.load_errors[std::string(name)] = why;
#if !defined(SLLM_HAVE_CUDA)
  if (name == "cuda") why = "this sllmsim was built without CUDA (nvcc was not found at configure time)";
#endif
  throw std::runtime_error("device backend '" + std::string(name) + "' is not available: " + why);
}

int device_count(std::string_view backend) {
  try {
    return device_backend(backend).device_count();
  } catch (const std::runtime_error&) {
    return 0;
  }
}

std::vector<std::string> device_backend_names() {
  Backends& b = backends();
  std::lock_guard lock(b.mu);
  std::vector<std::string> out;
  for (const auto& [name, backend] : b.by_name) out.push_back(name);
  return out;
}

}  // namespace sllm::models
