// A small strict JSON reader (RFC 8259) and writer helpers, for safetensors headers and checkpoint indexes.
// Strict: no trailing commas, no comments, no duplicate keys, no leading zeros, nothing after the value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sllm::models::json {

class Value {
 public:
  enum class Kind : std::uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  // Numbers that are written as integers without fraction or exponent and fit in 64 bits.
  bool is_unsigned() const { return kind_ == Kind::kNumber && is_unsigned_; }
  bool is_signed() const { return kind_ == Kind::kNumber && is_signed_; }

  const std::string& str() const { return text_; }           // string value
  std::uint64_t as_unsigned() const { return unsigned_; }    // valid when is_unsigned()
  std::int64_t as_signed() const { return signed_; }         // valid when is_signed()
  bool as_bool() const { return boolean_; }
  const std::vector<Value>& items() const { return items_; }
  // Object members in document order.
  const std::vector<std::pair<std::string, Value>>& members() const { return members_; }
  const Value* get(std::string_view key) const;  // nullptr when absent
  // Byte offset in the parsed text where this value starts (a string's opening quote): lets a reader
  // address the raw bytes of a value, e.g. a checksum stored inside the document it covers.
  std::size_t offset() const { return offset_; }

 private:
  friend class Parser;
  Kind kind_ = Kind::kNull;
  bool boolean_ = false;
  bool is_unsigned_ = false;
  bool is_signed_ = false;
  std::uint64_t unsigned_ = 0;
  std::int64_t signed_ = 0;
  std::size_t offset_ = 0;
  std::string text_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

// Throws std::invalid_argument("byte N: what was expected") on malformed input.
Value parse(std::string_view text);

// Writer helper: JSON string literal with escapes.
std::string quote(std::string_view s);

std::string_view kind_name(Value::Kind k);

}  // namespace sllm::models::json
