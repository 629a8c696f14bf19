// Azure LLM inference traces 2023/2024 (Splitwise, DynamoLLM): one request per row, absolute timestamps.
#include "row_format.h"

namespace sllm::traces::detail {
namespace {

class AzureLlmFormat final : public RowFormat {
 public:
  std::string_view name() const override { return "azure-llm"; }
  std::string_view summary() const override {
    return "Azure LLM inference 2023/2024: TIMESTAMP, ContextTokens, GeneratedTokens";
  }
  bool has_token_lengths() const override { return true; }
  const std::vector<std::string_view>& columns() const override {
    static const std::vector<std::string_view> columns{"TIMESTAMP", "ContextTokens", "GeneratedTokens"};
    return columns;
  }
  bool absolute_clock() const override { return true; }
  std::size_t time_field() const override { return 0; }
  void parse_row(Row& row, TraceRecord& r) const override {
    row.expect_fields(3);
    if (!parse_datetime(row.field(0), r.arrival)) {
      throw FieldError{0, "expected a time such as '2023-11-16 18:15:46.6805900', got '" +
                              std::string(row.field(0)) + "'"};
    }
    r.input_tokens = row.tokens(1);
    r.output_tokens = row.tokens(2);
  }
};

SLLM_REGISTER_TRACE_FORMAT(AzureLlmFormat);

}  // namespace
}  // namespace sllm::traces::detail
