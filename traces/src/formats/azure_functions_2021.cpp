// Azure Functions 2021: one invocation per row (app, func, end_timestamp, duration in seconds).
#include <algorithm>

#include "row_format.h"

namespace sllm::traces::detail {
namespace {

class AzureFunctions2021Format final : public RowFormat {
 public:
  std::string_view name() const override { return "azure-functions-2021"; }
  std::string_view summary() const override { return "Azure Functions 2021: app, func, end_timestamp, duration"; }
  bool has_token_lengths() const override { return false; }
  const std::vector<std::string_view>& columns() const override {
    static const std::vector<std::string_view> columns{"app", "func", "end_timestamp", "duration"};
    return columns;
  }
  std::size_t time_field() const override { return 2; }
  void parse_row(Row& row, TraceRecord& r) const override {
    row.expect_fields(4);
    row.name(0);
    row.name(1);
    const Nanos end = row.seconds(2);
    const Nanos duration = row.seconds(3);
    // Durations are rounded to milliseconds, so an invocation that began at the trace's first instant
    // can come out a fraction of a millisecond before zero: clamp it.
    r.arrival = std::max<Nanos>(0, end - duration);
    // The key is "app,func": both columns side by side in the line.
    const std::string_view app = row.field(0), func = row.field(1);
    r.key = row.intern(std::string_view(app.data(), static_cast<std::size_t>(func.data() + func.size() - app.data())));
  }
};

SLLM_REGISTER_TRACE_FORMAT(AzureFunctions2021Format);

}  // namespace
}  // namespace sllm::traces::detail
