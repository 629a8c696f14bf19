// Registries of pluggable policies by name. Each policy lives in its own file (policies/src/) and
// registers itself from a static initialiser; the library is linked whole-archive so registration
// always runs. A factory receives the policy's YAML parameter section, reads its own keys with
// defaults, and the caller then rejects unknown keys (ConfigNode::finish()).
// A factory may carry state (the Python bindings register a Python class), and entries may be added
// while simulations run on other threads: the map is guarded, and a factory is called outside the lock
// (a Python factory waits for the interpreter's lock, which the registering thread may hold).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sllm/core/config_node.h"
#include "sllm/core/error.h"

namespace sllm {

template <class Base>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Base>(const ConfigNode& params)>;

  static Registry& instance() {
    static Registry registry;
    return registry;
  }

  // Adds `name`, replacing an entry of the same name.
  void add(const std::string& name, Factory factory, const std::string& summary) {
    const std::lock_guard<std::mutex> lock(mutex_);
    entries_[name] = Entry{std::move(factory), summary};
  }

  bool contains(std::string_view name) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return entries_.find(name) != entries_.end();
  }

  // `name_node` locates the error when `name` is unknown; the message lists the registered names.
  std::unique_ptr<Base> create(const std::string& name, const ConfigNode& params,
                               const ConfigNode& name_node) const {
    Factory factory;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      auto it = entries_.find(name);
      if (it != entries_.end()) factory = it->second.factory;
    }
    if (!factory) {
      std::string known;
      for (const auto& [n, summary] : list()) known += (known.empty() ? "'" : ", '") + n + "'";
      name_node.fail("unknown " + std::string(Base::kKind) + " '" + name + "' (expected one of " + known + ")");
    }
    return factory(params);
  }

  std::vector<std::pair<std::string, std::string>> list() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [n, e] : entries_) out.emplace_back(n, e.summary);
    return out;
  }

 private:
  struct Entry {
    Factory factory;
    std::string summary;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

template <class Base>
struct RegistryEntry {
  RegistryEntry(const char* name, typename Registry<Base>::Factory factory, const char* summary) {
    Registry<Base>::instance().add(name, std::move(factory), summary);
  }
};

}  // namespace sllm

#define SLLM_REGISTRY_CONCAT2(a, b) a##b
#define SLLM_REGISTRY_CONCAT(a, b) SLLM_REGISTRY_CONCAT2(a, b)
// SLLM_REGISTER(SchedulingPolicy, "serverlessllm", "summary", factory_function);
#define SLLM_REGISTER(Base, name, summary, factory)                                        \
  static const ::sllm::RegistryEntry<Base> SLLM_REGISTRY_CONCAT(sllm_registry_entry_, __LINE__) { \
    name, factory, summary                                                                \
  }
