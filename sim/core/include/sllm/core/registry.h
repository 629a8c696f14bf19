// Registries of pluggable policies by name. Each policy lives in its own file (policies/src/) and
// registers itself from a static initialiser; the library is linked whole-archive so registration
// always runs. A factory receives the policy's YAML parameter section, reads its own keys with
// defaults, and the caller then rejects unknown keys (ConfigNode::finish()).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sllm/core/config_node.h"
#include "sllm/core/error.h"

namespace sllm {

template <class Base>
class Registry {
 public:
  using Factory = std::unique_ptr<Base> (*)(const ConfigNode& params);

  static Registry& instance() {
    static Registry registry;
    return registry;
  }

  void add(const std::string& name, Factory factory, const std::string& summary) {
    entries_[name] = Entry{factory, summary};
  }

  // `name_node` locates the error when `name` is unknown; the message lists the registered names.
  std::unique_ptr<Base> create(const std::string& name, const ConfigNode& params,
                               const ConfigNode& name_node) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      std::string known;
      for (const auto& [n, e] : entries_) known += (known.empty() ? "'" : ", '") + n + "'";
      name_node.fail("unknown " + std::string(Base::kKind) + " '" + name + "' (expected one of " + known + ")");
    }
    return it->second.factory(params);
  }

  std::vector<std::pair<std::string, std::string>> list() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [n, e] : entries_) out.emplace_back(n, e.summary);
    return out;
  }

 private:
  struct Entry {
    Factory factory = nullptr;
    std::string summary;
  };
  std::map<std::string, Entry, std::less<>> entries_;
};

template <class Base>
struct RegistryEntry {
  RegistryEntry(const char* name, typename Registry<Base>::Factory factory, const char* summary) {
    Registry<Base>::instance().add(name, factory, summary);
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
