#include <charconv>

#include "sllm/core/error.h"
#include "sllm/models/tensor.h"

namespace sllm::models {

Device Device::parse(std::string_view text, const std::string& flag) {
  if (text == "cpu") return {};
  const std::size_t colon = text.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    const std::string_view name = text.substr(0, colon);
    const std::string_view digits = text.substr(colon + 1);
    bool name_ok = true;
    for (char c : name) name_ok = name_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    int index = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (name_ok && name != "cpu" && ec == std::errc() && end == digits.data() + digits.size() && index >= 0) {
      return Device{std::string(name), index};
    }
  }
  throw InputError(flag, "expected 'cpu' or 'cuda:N', got '" + std::string(text) + "'");
}

}  // namespace sllm::models
