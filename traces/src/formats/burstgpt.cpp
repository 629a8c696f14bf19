// BurstGPT (Wang et al.): one request per row; newer releases append columns, which are ignored.
#include "row_format.h"

namespace sllm::traces::detail {
namespace {

class BurstGptFormat final : public RowFormat {
 public:
  std::string_view name() const override { return "burstgpt"; }
  std::string_view summary() const override {
    return "BurstGPT: Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type";
  }
  bool has_token_lengths() const override { return true; }
  const std::vector<std::string_view>& columns() const override {
    static const std::vector<std::string_view> columns{"Timestamp",       "Model",        "Request tokens",
                                                       "Response tokens", "Total tokens", "Log Type"};
    return columns;
  }
  // Newer BurstGPT releases append columns (Session ID, Elapsed time): accepted and ignored.
  bool extra_columns_allowed() const override { return true; }
  std::size_t time_field() const override { return 0; }
  void parse_row(Row& row, TraceRecord& r) const override {
    row.expect_fields(row.header_columns());
    r.arrival = row.seconds(0);
    const std::string_view model = row.name(1);
    r.input_tokens = row.tokens(2);
    r.output_tokens = row.tokens(3);
    std::uint64_t total = 0;
    if (!parse_uint64(row.field(4), total)) {
      throw FieldError{4, "expected a token count, got '" + std::string(row.field(4)) + "'"};
    }
    r.key = row.intern(model);
  }
};

SLLM_REGISTER_TRACE_FORMAT(BurstGptFormat);

}  // namespace
}  // namespace sllm::traces::detail
