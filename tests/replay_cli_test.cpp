// `sllmsim replay` in CPU mode, end to end (docs/replay.md): a real run of configs/replay/cpu.yaml (tiny
// checkpoints synthesised on the local disk, the real loader and DRAM chunk pool, CPU engines, the
// simulator's policies deciding in real time) and its comparison with a simulation. CI checks the
// machinery (conservation, the simulator's output schema, the logs agreeing with each other, compare
// running), not timing accuracy.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using sllm::testing::run_sllmsim;

const std::string kConfig = std::string(SLLM_SOURCE_DIR) + "/configs/replay/cpu.yaml";
constexpr std::size_t kRequests = 160;  // workload.requests of that config

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string f;
  while (std::getline(ss, f, ',')) out.push_back(f);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

// A CSV as rows of column -> value.
std::vector<std::map<std::string, std::string>> rows(const fs::path& p, std::vector<std::string>* header = nullptr) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> names = split(line);
  if (header != nullptr) *header = names;
  std::vector<std::map<std::string, std::string>> out;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = split(line);
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < names.size() && i < f.size(); ++i) row[names[i]] = f[i];
    out.push_back(row);
  }
  return out;
}

// The JSON keys of summary.json with their nesting ("requests.arrived"), values ignored.
std::set<std::string> json_keys(const std::string& text) {
  std::set<std::string> keys;
  std::vector<std::string> stack;
  std::string last;
  const std::regex key("\"([a-z0-9_]+)\":");
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      std::smatch m;
      const std::string rest = text.substr(i, 64);
      if (std::regex_search(rest, m, key) && m.position(0) == 0) {
        last = m[1];
        std::string path;
        for (const std::string& s : stack) path += s + ".";
        keys.insert(path + last);
        i += static_cast<std::size_t>(m.length(0)) - 1;
        continue;
      }
      const std::size_t end = text.find('"', i + 1);  // a string value
      i = end;
    } else if (c == '{') {
      if (!last.empty()) stack.push_back(last);
    } else if (c == '}') {
      if (!stack.empty()) stack.pop_back();
    }
  }
  return keys;
}

// The replay runs in wall-clock time (about 40 s), so one test runs it once and checks it in four parts
// (ctest runs every TEST in its own process).
struct ReplayRun {
  fs::path dir;
  sllm::testing::CliResult replay, run;
};

void check_conservation(const ReplayRun& t) {
  const auto reqs = rows(t.dir / "real" / "requests.csv");
  ASSERT_EQ(reqs.size(), kRequests);  // every request of the workload finished, once
  std::set<std::string> ids;
  std::size_t completed = 0;
  for (const auto& r : reqs) {
    ids.insert(r.at("id"));
    const std::string& o = r.at("outcome");
    EXPECT_TRUE(o == "completed" || o == "timed_out" || o == "rejected") << o;
    if (o != "completed") continue;
    ++completed;
    // Causality of each completed request's real times.
    const double arrival = std::stod(r.at("arrival_s")), start = std::stod(r.at("service_start_s"));
    const double first = std::stod(r.at("first_token_s")), done = std::stod(r.at("completion_s"));
    EXPECT_LE(arrival, start);
    EXPECT_LE(start, first);
    EXPECT_LE(first, done);
  }
  EXPECT_EQ(ids.size(), kRequests);
  EXPECT_GT(completed, kRequests / 2);
  const std::string summary = read(t.dir / "real" / "summary.json");
  EXPECT_NE(summary.find("\"arrived\": " + std::to_string(kRequests)), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"completed\": " + std::to_string(completed)), std::string::npos) << summary;
}

void check_schema(const ReplayRun& t) {
  ASSERT_EQ(t.run.status, 0) << t.run.output;
  std::vector<std::string> real_header, sim_header;
  rows(t.dir / "real" / "requests.csv", &real_header);
  rows(t.dir / "simulated" / "requests.csv", &sim_header);
  EXPECT_EQ(real_header, sim_header);
  EXPECT_EQ(json_keys(read(t.dir / "real" / "summary.json")), json_keys(read(t.dir / "simulated" / "summary.json")));
  EXPECT_FALSE(json_keys(read(t.dir / "real" / "summary.json")).empty());
}

void check_logs(const ReplayRun& t) {
  const auto decisions = rows(t.dir / "real" / "decisions.csv");
  const auto loads = rows(t.dir / "real" / "loads.csv");
  std::size_t starts = 0;
  for (const auto& d : decisions) starts += d.at("event") == "start" ? 1 : 0;
  EXPECT_EQ(starts, loads.size());  // every placement loads a checkpoint
  std::map<std::string, std::size_t> tiers;
  for (const auto& l : loads) {
    ++tiers[l.at("tier")];
    EXPECT_GT(std::stoull(l.at("bytes")), 0u);
    EXPECT_LE(std::stod(l.at("queued_s")), std::stod(l.at("start_s")));
    EXPECT_LT(std::stod(l.at("start_s")), std::stod(l.at("ready_s")));
    // A load from the DRAM tier is served by the chunk pool, one from the SSD tier by the disk: the
    // eviction policy's choices are carried out in the real pool.
    if (l.at("tier") == "dram") {
      EXPECT_EQ(l.at("chunks_from_dram"), l.at("chunks"));
    }
    if (l.at("tier") == "ssd") {
      EXPECT_EQ(l.at("chunks_from_dram"), "0");
    }
  }
  // The DRAM pool holds two of the four checkpoints: loads come from both tiers.
  EXPECT_GT(tiers["ssd"], 0u);
  EXPECT_GT(tiers["dram"], 0u);
  EXPECT_EQ(tiers["ssd"] + tiers["dram"], loads.size());
  // Cold-started requests name the tier their instance loaded from.
  for (const auto& r : rows(t.dir / "real" / "requests.csv")) {
    if (r.at("cold_start") == "1") {
      EXPECT_TRUE(r.at("load_tier") == "ssd" || r.at("load_tier") == "dram");
    }
  }
}

void check_compare(const ReplayRun& t) {
  for (const char* row : {"ttft mean", "ttft p99", "latency p50", "cold starts", "loads from ssd", "loads from dram",
                          "keep-alive unloads", "per-request |relative error|", "ssd loads ("}) {
    EXPECT_NE(t.replay.output.find(row), std::string::npos) << row << "\n" << t.replay.output;
  }
  // The simulated side is the same scenario: its requests.csv equals `sllmsim run`'s.
  EXPECT_EQ(read(t.dir / "real" / "sim" / "requests.csv"), read(t.dir / "simulated" / "requests.csv"));
  // `replay compare` alone re-reads the real run.
  const auto again = run_sllmsim("replay compare -c " + kConfig + " -o " + (t.dir / "real").string());
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(again.output, read(t.dir / "real" / "compare.txt"));
}

TEST(Replay, CpuModeEndToEnd) {
  ReplayRun t;
  t.dir = fs::temp_directory_path() / ("sllm-replay-test-" + std::to_string(::getpid()));
  fs::remove_all(t.dir);
  t.replay = run_sllmsim("replay -c " + kConfig + " -o " + (t.dir / "real").string() + " --device cpu --compare -q");
  t.run = run_sllmsim("run -c " + kConfig + " -o " + (t.dir / "simulated").string() + " -q");
  ASSERT_EQ(t.replay.status, 0) << t.replay.output;
  {
    SCOPED_TRACE("conservation");
    check_conservation(t);
  }
  {
    SCOPED_TRACE("schema");
    check_schema(t);
  }
  {
    SCOPED_TRACE("decision and load logs");
    check_logs(t);
  }
  {
    SCOPED_TRACE("compare");
    check_compare(t);
  }
  fs::remove_all(t.dir);
}

TEST(Replay, RejectsWhatTheHostCannotRun) {
  const auto r = run_sllmsim("replay -c " + kConfig + " -o " +
                             (fs::temp_directory_path() / "sllm-replay-bad").string() +
                             " --set cluster.servers[0].count=2 -q");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("one server"), std::string::npos) << r.output;
  // A policy that may abandon a load in flight: the real loader cannot, so the run would not be the
  // policy's (nothing is started: the refusal comes before any checkpoint is synthesised).
  const auto replacing = run_sllmsim("replay -c " + kConfig + " -o " +
                                     (fs::temp_directory_path() / "sllm-replay-bad").string() +
                                     " --set policy.replace_loads=true -q");
  EXPECT_EQ(replacing.status, 2) << replacing.output;
  EXPECT_NE(replacing.output.find("replace_loads: false"), std::string::npos) << replacing.output;
  fs::remove_all(fs::temp_directory_path() / "sllm-replay-bad");
}

}  // namespace
