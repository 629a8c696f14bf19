// This project's canonical request CSV (written by `sllmsim trace convert`, CanonicalCsvWriter): the
// model column is already a deployed model index.
#include "row_format.h"

namespace sllm::traces::detail {
namespace {

class CanonicalFormat final : public RowFormat {
 public:
  std::string_view name() const override { return "canonical"; }
  std::string_view summary() const override {
    return "this project's request CSV: id, arrival_s, model, input_tokens, output_tokens";
  }
  bool has_token_lengths() const override { return true; }
  bool keys_are_model_indices() const override { return true; }
  const std::vector<std::string_view>& columns() const override {
    static const std::vector<std::string_view> columns{"id", "arrival_s", "model", "input_tokens", "output_tokens"};
    return columns;
  }
  std::size_t time_field() const override { return 1; }
  void parse_row(Row& row, TraceRecord& r) const override {
    row.expect_fields(5);
    std::uint64_t id = 0;
    if (!parse_uint64(row.field(0), id)) {
      throw FieldError{0, "expected a request id (non-negative integer), got '" + std::string(row.field(0)) + "'"};
    }
    r.arrival = row.seconds(1);
    if (!parse_uint32(row.field(2), r.key)) {
      throw FieldError{2, "expected a model index (non-negative integer), got '" + std::string(row.field(2)) + "'"};
    }
    r.input_tokens = row.tokens(3);
    r.output_tokens = row.tokens(4);
  }
};

SLLM_REGISTER_TRACE_FORMAT(CanonicalFormat);

}  // namespace
}  // namespace sllm::traces::detail
