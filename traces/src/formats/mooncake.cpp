// Mooncake (Qin et al., FAST 2025; github.com/kvcache-ai/Mooncake, FAST25-release/): JSON Lines, one request
// per line: {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [block hashes]}.
// Lines are parsed with nlohmann-json's SAX interface: no document is built, so a line allocates nothing
// beyond the parser itself, and a syntax error comes with its byte position for file:line:column.
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <optional>

#include "row_format.h"

namespace sllm::traces::detail {
namespace {

enum Field : std::size_t { kTimestamp, kInputLength, kOutputLength, kHashIds, kNone };
constexpr std::array<std::string_view, 4> kFieldNames{"timestamp", "input_length", "output_length", "hash_ids"};

// The 1-based column of `"name"` as a key in the line (1 when absent), so field errors point at the field.
std::uint32_t key_column(std::string_view line, std::string_view name) {
  const std::string quoted = "\"" + std::string(name) + "\"";
  const std::size_t at = line.find(quoted);
  return at == std::string_view::npos ? 1 : static_cast<std::uint32_t>(at + 1);
}

// Collects the four fields of one top-level object; anything else is an error (unknown keys are skipped
// with their values, nested or not).
class LineHandler final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::optional<double> timestamp_ms;
  std::optional<std::uint64_t> input_length, output_length;
  bool has_hash_ids = false;
  std::size_t error_field = kNone;  // which field an error is about (kNone: the line as a whole)
  std::string error;
  std::size_t error_position = 0;  // byte offset of a syntax error (1-based, nlohmann's), else 0

  bool null() override { return value("null"); }
  bool boolean(bool) override { return value("a boolean"); }
  bool number_integer(number_integer_t v) override {
    if (in_hash_ids()) return fail(kHashIds, "expected non-negative integer block hashes, got " + std::to_string(v));
    return value("a negative number");
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (in_hash_ids()) return true;
    if (depth_ == 0) return value("a number");
    if (!at_field()) return true;
    if (key_ == kTimestamp) return set_timestamp(static_cast<double>(v));
    if (key_ == kInputLength || key_ == kOutputLength) {
      if (v > 0xFFFFFFFFull) return fail(key_, "expected a token count (integer 0..4294967295), got " + std::to_string(v));
      (key_ == kInputLength ? input_length : output_length) = v;
      return true;
    }
    return value("a number");
  }
  bool number_float(number_float_t v, const string_t& text) override {
    if (in_hash_ids()) return fail(kHashIds, "expected non-negative integer block hashes, got " + text);
    if (at_field() && key_ == kTimestamp && v >= 0) return set_timestamp(v);
    if (at_field() && (key_ == kInputLength || key_ == kOutputLength)) {
      return fail(key_, "expected a token count (integer 0..4294967295), got " + text);
    }
    return value("the number " + text);
  }
  bool string(string_t&) override { return value("a string"); }
  bool binary(binary_t&) override { return value("binary data"); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) {
      ++depth_;
      return true;
    }
    if (in_hash_ids()) return fail(kHashIds, "expected non-negative integer block hashes, got an object");
    if (!value("an object")) return false;
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return fail(kNone, "expected a JSON object per line, got an array");
    if (in_hash_ids()) return fail(kHashIds, "expected non-negative integer block hashes, got an array");
    if (at_field() && key_ == kHashIds) {
      has_hash_ids = true;
      hash_ids_depth_ = depth_ + 1;
    } else if (!value("an array")) {
      return false;
    }
    ++depth_;
    return true;
  }
  bool end_array() override {
    if (depth_ == hash_ids_depth_) hash_ids_depth_ = 0;
    --depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ != 1) return true;
    key_ = kNone;
    for (std::size_t i = 0; i < kFieldNames.size(); ++i) {
      if (k == kFieldNames[i]) key_ = static_cast<Field>(i);
    }
    if (key_ != kNone && seen_[key_]) return fail(key_, "duplicate key");
    if (key_ != kNone) seen_[key_] = true;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error_position = position;
    error = e.what();
    // nlohmann's message is "[json.exception.parse_error.101] parse error at line 1, column 7: ..."; the
    // location is ours, keep the reason.
    if (const std::size_t colon = error.find(": "); colon != std::string::npos) error = error.substr(colon + 2);
    return false;
  }

 private:
  bool at_field() const { return depth_ == 1 && key_ != kNone; }
  bool in_hash_ids() const { return hash_ids_depth_ != 0 && depth_ == hash_ids_depth_; }
  // A value of a type the field does not take (values of unknown keys are skipped).
  bool value(const std::string& what) {
    if (depth_ == 0) return fail(kNone, "expected a JSON object per line, got " + what);
    if (in_hash_ids()) return fail(kHashIds, "expected non-negative integer block hashes, got " + what);
    if (!at_field()) return true;
    static constexpr std::array<std::string_view, 4> kExpected{
        "milliseconds (a non-negative number)", "a token count (integer 0..4294967295)",
        "a token count (integer 0..4294967295)", "an array of block hashes"};
    return fail(key_, "expected " + std::string(kExpected[key_]) + ", got " + what);
  }
  bool set_timestamp(double ms) {
    // 2^62 ns is the simulator's clock limit; a larger timestamp is corruption, not a trace.
    if (!std::isfinite(ms) || ms > 4.0e12) return fail(kTimestamp, "expected milliseconds below 4e12");
    timestamp_ms = ms;
    return true;
  }
  bool fail(std::size_t field, std::string what) {
    error_field = field;
    error = std::move(what);
    return false;
  }

  int depth_ = 0;
  int hash_ids_depth_ = 0;  // depth of the hash_ids array's elements while inside it, else 0
  Field key_ = kNone;
  std::array<bool, 4> seen_{};
};

class MooncakeFormat final : public RowFormat {
 public:
  std::string_view name() const override { return "mooncake"; }
  std::string_view summary() const override {
    return "Mooncake JSON Lines: timestamp (ms), input_length, output_length, hash_ids";
  }
  std::string header() const override {
    return R"({"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]} per line)";
  }
  bool has_header_line() const override { return false; }
  bool has_token_lengths() const override { return true; }
  const std::vector<std::string_view>& columns() const override {
    static const std::vector<std::string_view> names(kFieldNames.begin(), kFieldNames.end());
    return names;
  }
  std::size_t time_field() const override { return kTimestamp; }

  // The first line is a JSON object with the three required keys.
  bool matches_header(std::string_view first_line) const override {
    LineHandler h;
    return nlohmann::json::sax_parse(first_line.begin(), first_line.end(), &h) && h.timestamp_ms &&
           h.input_length && h.output_length;
  }

  void parse_row(Row& row, TraceRecord& r) const override {
    const std::string_view line = row.line();
    LineHandler h;
    if (!nlohmann::json::sax_parse(line.begin(), line.end(), &h)) {
      if (h.error_position != 0) {
        const auto column = static_cast<std::uint32_t>(std::min<std::size_t>(h.error_position, line.size() + 1));
        throw FieldError{kNone, "invalid JSON: " + h.error, column};
      }
      const std::uint32_t column = h.error_field == kNone ? 1 : key_column(line, kFieldNames[h.error_field]);
      throw FieldError{h.error_field, h.error, column};
    }
    for (std::size_t f : {kTimestamp, kInputLength, kOutputLength}) {
      const bool present = f == kTimestamp ? h.timestamp_ms.has_value()
                           : f == kInputLength ? h.input_length.has_value()
                                               : h.output_length.has_value();
      if (!present) throw FieldError{f, "missing key", static_cast<std::uint32_t>(line.size() + 1)};
    }
    r.arrival = static_cast<Nanos>(std::llround(*h.timestamp_ms * 1e6));
    r.input_tokens = static_cast<std::uint32_t>(*h.input_length);
    r.output_tokens = static_cast<std::uint32_t>(*h.output_length);
  }
};

SLLM_REGISTER_TRACE_FORMAT(MooncakeFormat);

}  // namespace
}  // namespace sllm::traces::detail
