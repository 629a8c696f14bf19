#include "sllm/traces/readers.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "csv.h"
#include "sllm/core/error.h"
#include "sllm/traces/formats.h"

namespace sllm::traces {

namespace {

// Formats by name. A function-local static, so registrations from any translation unit's static
// initialisers find it constructed.
std::map<std::string, const TraceFormat*, std::less<>>& registry() {
  static std::map<std::string, const TraceFormat*, std::less<>> formats;
  return formats;
}

std::string quoted_names() {
  std::string names;
  for (const auto& [name, format] : registry()) names += (names.empty() ? "'" : ", '") + name + "'";
  return names;
}

}  // namespace

void TraceReader::bad_row(bool skip, const std::string& where, const std::string& what) {
  if (!skip) throw InputError(where, what);
  if (skipped_rows_++ == 0) first_skip_reason_ = where + ": " + what;
}

void register_trace_format(const TraceFormat& format) {
  const std::string name(format.name());
  if (name.empty() || name == "auto") throw std::logic_error("a trace format cannot be named '" + name + "'");
  if (!registry().emplace(name, &format).second) {
    throw std::logic_error("trace format '" + name + "' registered twice");
  }
}

const TraceFormat& trace_format(std::string_view name) {
  if (auto it = registry().find(name); it != registry().end()) return *it->second;
  throw std::invalid_argument("unknown trace format '" + std::string(name) + "' (expected one of " +
                              quoted_names() + ")");
}

std::vector<const TraceFormat*> trace_formats() {
  std::vector<const TraceFormat*> out;
  for (const auto& [name, format] : registry()) out.push_back(format);
  return out;
}

const TraceFormat& detect_trace_format(const TraceInput& input) {
  // The first line only: a bounded read from the start, whatever the input (TraceInput keeps
  // non-seekable inputs readable again).
  std::string prefix(detail::kMaxLineBytes, '\0');
  std::size_t got = 0;
  while (got < prefix.size()) {
    const std::size_t r = input.read_at(prefix.data() + got, prefix.size() - got, got);
    if (r == 0) break;
    got += r;
    if (prefix.find('\n') < got) break;
  }
  prefix.resize(got);
  std::string_view line(prefix);
  line = line.substr(0, line.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  line = detail::strip_bom(line);
  if (prefix.empty()) throw InputError(input.path(), "empty file: no header line to recognise the trace format from");
  std::vector<const TraceFormat*> matches;
  for (const auto& [name, format] : registry()) {
    if (format->matches_header(line)) matches.push_back(format);
  }
  if (matches.size() == 1) return *matches.front();
  if (matches.size() > 1) {
    std::string names;
    for (const TraceFormat* f : matches) names += (names.empty() ? "'" : ", '") + std::string(f->name()) + "'";
    throw InputError(input.path() + ":1:1", "the header matches several trace formats (" + names +
                                                "); give the format explicitly");
  }
  std::string known;
  for (const auto& [name, format] : registry()) known += "\n  " + name + ": " + format->header();
  throw InputError(input.path() + ":1:1", "unrecognised header '" + std::string(line.substr(0, 120)) +
                                              "'; give the format explicitly, or expect one of:" + known);
}

const TraceFormat& detect_trace_format(const std::string& path) { return detect_trace_format(*TraceInput::open(path)); }

std::unique_ptr<TraceReader> open_trace_reader(std::shared_ptr<const TraceInput> input, const TraceFormat& format,
                                               const ReaderOptions& options) {
  if (options.reorder_window < 0) throw InputError(input->path(), "reorder window must be non-negative");
  return format.open(std::move(input), options);
}

std::unique_ptr<TraceReader> open_trace_reader(const std::string& path, const TraceFormat& format,
                                               const ReaderOptions& options) {
  return open_trace_reader(TraceInput::open(path), format, options);
}

CanonicalCsvWriter::CanonicalCsvWriter(std::string path) : path_(std::move(path)) {
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) throw InputError(path_, std::string("cannot create output file: ") + std::strerror(errno));
  buffer_ = "id,arrival_s,model,input_tokens,output_tokens\n";
}

CanonicalCsvWriter::~CanonicalCsvWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void CanonicalCsvWriter::write(const RequestSpec& r) {
  char buf[24];
  auto put = [&](std::uint64_t v) {
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    buffer_.append(buf, res.ptr);
  };
  put(r.id);
  buffer_.push_back(',');
  detail::append_seconds(buffer_, r.arrival);
  buffer_.push_back(',');
  put(r.model);
  buffer_.push_back(',');
  put(r.input_tokens);
  buffer_.push_back(',');
  put(r.output_tokens);
  buffer_.push_back('\n');
  if (buffer_.size() >= (std::size_t{1} << 20)) flush_buffer();
}

void CanonicalCsvWriter::flush_buffer() {
  if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
    throw std::runtime_error(temp_path_ + ": write failed: " + std::strerror(errno));
  }
  buffer_.clear();
}

void CanonicalCsvWriter::commit() {
  flush_buffer();
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) {
    std::remove(temp_path_.c_str());
    throw std::runtime_error(temp_path_ + ": write failed: " + std::strerror(errno));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::remove(temp_path_.c_str());
    throw std::runtime_error("cannot rename " + temp_path_ + " to " + path_ + ": " + std::strerror(errno));
  }
}

}  // namespace sllm::traces
