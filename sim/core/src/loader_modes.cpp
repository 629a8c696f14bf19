#include "sllm/core/loader_modes.h"

#include <algorithm>
#include <mutex>

namespace sllm {
namespace {

struct Names {
  std::mutex mu;
  std::vector<std::string> sorted;
};
Names& names() {
  static Names n;
  return n;
}

// Names that meant a mode once: a profile, config or script still using one gets told the new name.
constexpr std::pair<std::string_view, std::string_view> kRetired[] = {{"pipelined", "sllm"}};

}  // namespace

void register_loader_mode_name(std::string_view name) {
  Names& n = names();
  std::lock_guard lock(n.mu);
  auto it = std::lower_bound(n.sorted.begin(), n.sorted.end(), name);
  if (it == n.sorted.end() || *it != name) n.sorted.insert(it, std::string(name));
}

bool is_loader_mode(std::string_view name) {
  Names& n = names();
  std::lock_guard lock(n.mu);
  return std::binary_search(n.sorted.begin(), n.sorted.end(), name);
}

std::vector<std::string> loader_mode_names() {
  Names& n = names();
  std::lock_guard lock(n.mu);
  return n.sorted;
}

std::string unknown_loader_mode_message(std::string_view name) {
  for (const auto& [old_name, new_name] : kRetired) {
    if (name == old_name) {
      return "loader mode '" + std::string(name) + "' was renamed '" + std::string(new_name) + "'";
    }
  }
  std::string list;
  for (const std::string& m : loader_mode_names()) list += (list.empty() ? "" : ", ") + m;
  return "unknown loader mode '" + std::string(name) + "' (expected one of " + list + ")";
}

}  // namespace sllm
