#include <charconv>

#include "sllm/models/tensor.h"
#include "sllm/core/error.h"

namespace sllm::models {

Device Device::parse(std::string_view text, const std::string& flag) {
  if (text == "cpu") return {};
  if (text.substr(0, 5) == "cuda:") {
    int index = -1;
    const std::string_view digits = text.substr(5);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec == std::errc() && end == digits.data() + digits.size() && index >= 0) {
      return Device{Device::Kind::kCuda, index};
    }
  }
  throw InputError(flag, "expected 'cpu' or 'cuda:N', got '" + std::string(text) + "'");
}

}  // namespace sllm::models
