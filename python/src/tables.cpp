#include "tables.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>

#include <pybind11/numpy.h>

#include "sllm/core/error.h"
#include "sllm/core/files.h"

namespace py = pybind11;

namespace sllm::python {
namespace {

// One field as it stands in the file: the text between the quotes of a quoted field, with its doubled
// quotes still doubled (only text columns unescape them).
struct Field {
  std::string_view raw;
  bool quoted = false;
  std::string text() const {
    if (!quoted) return std::string(raw);
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      out += raw[i];
      if (raw[i] == '"') ++i;  // the second quote of a doubled pair
    }
    return out;
  }
};

// RFC 4180: fields separated by commas, records by newlines (CR LF accepted); a quoted field may hold
// commas, newlines and doubled quotes. Calls on_record(fields, line) for every record, the header too.
template <class OnRecord>
void scan_csv(std::string_view text, const std::string& path, OnRecord&& on_record) {
  std::vector<Field> record;
  std::size_t line = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t record_line = line;
    record.clear();
    for (;;) {
      Field f;
      if (i < text.size() && text[i] == '"') {
        const std::size_t from = ++i;
        for (;;) {
          if (i >= text.size()) throw InputError(path + ":" + std::to_string(record_line), "unterminated quoted field");
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              i += 2;
              continue;
            }
            break;
          }
          if (text[i] == '\n') ++line;
          ++i;
        }
        f.raw = text.substr(from, i - from);
        f.quoted = true;
        ++i;  // the closing quote
      } else {
        const std::size_t stop = text.find_first_of(",\r\n", i);
        const std::size_t to = stop == std::string_view::npos ? text.size() : stop;
        f.raw = text.substr(i, to - i);
        i = to;
      }
      record.push_back(f);
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == '\r') ++i;
      if (i < text.size() && text[i] != '\n') {
        throw InputError(path + ":" + std::to_string(line), "unexpected character after a quoted field");
      }
      ++i;
      ++line;
      break;
    }
    on_record(record, record_line);
  }
}

bool parse_int(std::string_view s, std::int64_t& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_real(std::string_view s, double& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

enum class ColumnType : unsigned char { kInt, kReal, kText };

// What the first pass learns of a column.
struct ColumnScan {
  bool all_int = true, any_empty = false, text = false;
  ColumnType type(std::size_t rows) const {
    if (text) return ColumnType::kText;
    return all_int && !any_empty && rows > 0 ? ColumnType::kInt : ColumnType::kReal;
  }
};

}  // namespace

py::dict read_table(const std::string& path, const std::vector<std::string>& text_columns, const RowFilter& where) {
  std::string text;
  std::vector<std::string> names;
  std::vector<ColumnScan> scans;
  std::size_t rows = 0;
  std::size_t where_column = 0;
  const auto selected = [&](const std::vector<Field>& record) {
    return where.column.empty() || (record[where_column].text() == where.value) == where.equal;
  };
  {
    // Pass 1, without the interpreter's lock: the columns' types and the row count.
    py::gil_scoped_release release;
    text = read_file_limited(path, std::numeric_limits<std::uint64_t>::max(), "table");
    scan_csv(text, path, [&](const std::vector<Field>& record, std::size_t line) {
      if (names.empty()) {
        for (const Field& f : record) names.push_back(f.text());
        scans.resize(names.size());
        for (std::size_t c = 0; c < names.size(); ++c) {
          scans[c].text = std::find(text_columns.begin(), text_columns.end(), names[c]) != text_columns.end();
        }
        if (!where.column.empty()) {
          const auto it = std::find(names.begin(), names.end(), where.column);
          if (it == names.end()) throw InputError(path, "no column '" + where.column + "'");
          where_column = static_cast<std::size_t>(it - names.begin());
        }
        return;
      }
      if (record.size() != names.size()) {
        throw InputError(path + ":" + std::to_string(line), "expected " + std::to_string(names.size()) +
                                                                 " fields, found " + std::to_string(record.size()));
      }
      if (!selected(record)) return;
      ++rows;
      for (std::size_t c = 0; c < record.size(); ++c) {
        ColumnScan& col = scans[c];
        if (col.text) continue;
        if (record[c].raw.empty()) {
          col.any_empty = true;
          continue;
        }
        std::int64_t i = 0;
        double d = 0;
        if (col.all_int && parse_int(record[c].raw, i)) continue;
        col.all_int = false;
        if (!parse_real(record[c].raw, d)) col.text = true;
      }
    });
    if (names.empty()) throw InputError(path, "empty file (expected a header line)");
  }

  // Pass 2: the arrays, numbers written in place, text collected as Python strings.
  const auto n = static_cast<py::ssize_t>(rows);
  std::vector<py::array_t<std::int64_t>> ints(names.size());
  std::vector<py::array_t<double>> reals(names.size());
  std::vector<py::list> texts(names.size());
  for (std::size_t c = 0; c < names.size(); ++c) {
    switch (scans[c].type(rows)) {
      case ColumnType::kInt: ints[c] = py::array_t<std::int64_t>(n); break;
      case ColumnType::kReal: reals[c] = py::array_t<double>(n); break;
      case ColumnType::kText: texts[c] = py::list(n); break;
    }
  }
  std::size_t row = 0;
  bool header = true;
  scan_csv(text, path, [&](const std::vector<Field>& record, std::size_t) {
    if (std::exchange(header, false) || !selected(record)) return;
    for (std::size_t c = 0; c < record.size(); ++c) {
      const std::string_view v = record[c].raw;
      switch (scans[c].type(rows)) {
        case ColumnType::kInt: parse_int(v, ints[c].mutable_data()[row]); break;
        case ColumnType::kReal: {
          double& out = reals[c].mutable_data()[row];
          if (v.empty() || !parse_real(v, out)) out = std::numeric_limits<double>::quiet_NaN();
          break;
        }
        case ColumnType::kText: texts[c][row] = py::str(record[c].text()); break;
      }
    }
    ++row;
  });

  py::dict out;
  const py::object numpy_array = py::module_::import("numpy").attr("array");
  for (std::size_t c = 0; c < names.size(); ++c) {
    const py::str name(names[c]);
    switch (scans[c].type(rows)) {
      case ColumnType::kInt: out[name] = ints[c]; break;
      case ColumnType::kReal: out[name] = reals[c]; break;
      case ColumnType::kText: out[name] = numpy_array(texts[c], py::arg("dtype") = "str"); break;
    }
  }
  return out;
}

}  // namespace sllm::python
