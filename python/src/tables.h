// The CSV tables a run and a sweep write (requests.csv, results.csv) as columns of NumPy arrays.
#pragma once

#include <string>
#include <vector>

#include <pybind11/pybind11.h>

namespace sllm::python {

// Rows whose `column` holds `value` (equal) or does not (!equal); an empty column selects every row.
struct RowFilter {
  std::string column, value;
  bool equal = true;
};

// {column: array} in file order, of the rows `where` selects. A column whose non-empty values are all
// integers is int64 (float64 when some are empty, NaN there), one whose non-empty values are all numbers
// is float64 (NaN for empty), any other column text (numpy str), as are the columns named in
// `text_columns`. Quoted fields follow RFC 4180. A malformed file throws InputError naming file:line.
pybind11::dict read_table(const std::string& path, const std::vector<std::string>& text_columns,
                          const RowFilter& where = {});

}  // namespace sllm::python
