// Small helpers shared by the trace tests: a scratch directory and file writing.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sllm/core/error.h"
#include "sllm/core/request.h"

namespace sllm::traces::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sllm_traces_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<RequestSpec> drain(RequestSource& source) {
  std::vector<RequestSpec> out;
  RequestSpec r;
  while (source.next(r)) out.push_back(r);
  return out;
}

inline bool operator==(const RequestSpec& a, const RequestSpec& b) {
  return a.id == b.id && a.arrival == b.arrival && a.model == b.model && a.input_tokens == b.input_tokens &&
         a.output_tokens == b.output_tokens;
}

// The message of the InputError `fn` throws ("" when it throws none; other exceptions propagate).
template <typename Fn>
std::string input_error(Fn&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace sllm::traces::testing
