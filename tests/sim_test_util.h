// Helpers shared by the simulator tests: scenarios from inline YAML, runs into a temporary directory,
// and requests.csv read back as rows of named columns.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "sllm/core/config_node.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/simulator.h"
#include "sllm/traces/synthetic.h"

namespace sllm::testing {

inline Scenario scenario_from_yaml(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  ConfigNode root = ConfigNode::load_string(yaml, "test.yaml");
  for (const auto& o : overrides) root.apply_override(o);
  return Scenario::from_config(root);
}

inline std::string temp_dir_prefix() { return "sllm_test_" + std::to_string(::getpid()) + "_"; }

// A fresh directory for one test's outputs. Every one this process handed out is removed when it exits
// (a failed test's files stay until then), so test runs do not pile up in the temp directory.
inline std::string temp_dir(const std::string& name) {
  static const bool cleanup_registered = [] {
    std::atexit([] {
      std::error_code ec;
      const std::string prefix = temp_dir_prefix();
      for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::temp_directory_path(), ec)) {
        if (entry.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove_all(entry.path(), ec);
      }
    });
    return true;
  }();
  (void)cleanup_registered;
  const auto dir = std::filesystem::temp_directory_path() / (temp_dir_prefix() + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

// A path under ../shared/data; SLLM_SHARED_DATA_DIR in the environment overrides the build's
// <repo>/../shared/data (worktrees live elsewhere).
inline std::string shared_data_path(const std::string& rel) {
  const char* env = std::getenv("SLLM_SHARED_DATA_DIR");
  return std::string(env != nullptr ? env : SLLM_SHARED_DATA_DIR) + "/" + rel;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

using Row = std::map<std::string, std::string>;

inline std::vector<Row> read_csv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> header;
  std::vector<Row> rows;
  auto split = [](const std::string& l) {
    std::vector<std::string> out;
    std::string cell;
    std::stringstream ss(l);
    while (std::getline(ss, cell, ',')) out.push_back(cell);
    if (!l.empty() && l.back() == ',') out.emplace_back();
    return out;
  };
  if (!std::getline(in, line)) return rows;
  header = split(line);
  while (std::getline(in, line)) {
    const auto cells = split(line);
    Row r;
    for (std::size_t i = 0; i < header.size(); ++i) r[header[i]] = i < cells.size() ? cells[i] : "";
    rows.push_back(std::move(r));
  }
  return rows;
}

inline double num(const Row& r, const std::string& key) { return std::stod(r.at(key)); }

inline RequestSpec request(double arrival_s, std::uint32_t model, std::uint32_t input, std::uint32_t output) {
  RequestSpec s;
  s.arrival = from_seconds(arrival_s);
  s.model = model;
  s.input_tokens = input;
  s.output_tokens = output;
  return s;
}

inline RunOptions with_requests(std::vector<RequestSpec> list, const std::string& dir = "") {
  RunOptions o;
  o.output_dir = dir;
  o.source = [list]() -> std::unique_ptr<RequestSource> {
    return std::make_unique<traces::ListSource>(list);
  };
  return o;
}

}  // namespace sllm::testing
