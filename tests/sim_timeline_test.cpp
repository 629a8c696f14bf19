// output.timeline and output.time_series: the trace-event file is well formed (a strict JSON parse),
// slices on a GPU track never overlap, every async begin has its end, everything lies in the window,
// sampled requests match requests.csv; the sample and the bytes are stable; the file is bounded; the
// time series conserves requests at every row; the tables add up to the run's totals. Recording never
// changes the run (same event fingerprint and requests.csv with and without it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sim_test_util.h"
#include "sllm/core/error.h"

namespace sllm {
namespace {

using namespace sllm::testing;

// ---- A minimal strict JSON reader (objects, arrays, strings, numbers, true/false/null). ----
struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  double number = 0;
  bool boolean = false;
  std::string text;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> fields;
  const Json* get(const std::string& key) const {
    for (const auto& f : fields) {
      if (f.first == key) return &f.second;
    }
    return nullptr;
  }
  const Json& at(const std::string& key) const {
    const Json* j = get(key);
    if (j == nullptr) throw std::runtime_error("missing key " + key);
    return *j;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  Json parse() {
    Json j = value();
    ws();
    if (i_ != s_.size()) fail("trailing text");
    return j;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(i_));
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    ws();
    if (i_ >= s_.size() || s_[i_] != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c == '\\') {
        if (i_ >= s_.size()) fail("bad escape");
        const char e = s_[i_++];
        if (e == 'u') {
          if (i_ + 4 > s_.size()) fail("bad \\u escape");
          out += static_cast<char>(std::stoi(s_.substr(i_, 4), nullptr, 16));
          i_ += 4;
        } else if (e == '"' || e == '\\' || e == '/') {
          out += e;
        } else if (e == 'n') {
          out += '\n';
        } else {
          fail("unsupported escape");
        }
      } else {
        out += c;
      }
    }
  }
  Json value() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    Json j;
    const char c = s_[i_];
    if (c == '{') {
      j.kind = Json::kObject;
      ++i_;
      ws();
      if (s_[i_] == '}') {
        ++i_;
        return j;
      }
      while (true) {
        std::string key = string();
        expect(':');
        j.fields.emplace_back(std::move(key), value());
        ws();
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        expect('}');
        return j;
      }
    }
    if (c == '[') {
      j.kind = Json::kArray;
      ++i_;
      ws();
      if (s_[i_] == ']') {
        ++i_;
        return j;
      }
      while (true) {
        j.items.push_back(value());
        ws();
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        expect(']');
        return j;
      }
    }
    if (c == '"') {
      j.kind = Json::kString;
      j.text = string();
      return j;
    }
    for (const char* word : {"true", "false", "null"}) {
      if (s_.compare(i_, std::strlen(word), word) == 0) {
        i_ += std::strlen(word);
        j.kind = word[0] == 'n' ? Json::kNull : Json::kBool;
        j.boolean = word[0] == 't';
        return j;
      }
    }
    const std::size_t start = i_;
    if (s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_]))) fail("bad value");
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == 'e' ||
                              s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-')) {
      ++i_;
    }
    j.kind = Json::kNumber;
    j.number = std::stod(s_.substr(start, i_ - start));
    return j;
  }
  const std::string& s_;
  std::size_t i_ = 0;
};

const std::string kDefault = std::string(SLLM_SOURCE_DIR) + "/configs/default.yaml";

struct RunResult {
  std::string dir;
  RunSummary summary;
};

RunResult run_default(const std::string& name, std::vector<std::string> overrides) {
  overrides.insert(overrides.begin(), {"workload.requests=400", "output.timing=false"});
  const Scenario sc = Scenario::load(kDefault, overrides);
  RunResult r;
  r.dir = temp_dir(name);
  RunOptions o;
  o.output_dir = r.dir;
  r.summary = Simulator(sc).run(o);
  return r;
}

Json read_timeline(const std::string& dir) {
  const std::string text = read_text(dir + "/timeline.json");
  return JsonParser(text).parse();
}

// Microseconds in the file -> nanoseconds (the file prints exactly three decimals).
std::int64_t ns(double us) { return std::llround(us * 1000.0); }

// The structural invariants of a trace, for any window: returns the request slices by id.
struct RequestSlice {
  std::int64_t begin = -1, end = -1;
  std::string outcome;
};
std::map<std::uint64_t, RequestSlice> check_structure(const Json& root, std::int64_t window_start,
                                                      std::int64_t window_end) {
  std::map<std::pair<int, int>, std::vector<std::pair<std::int64_t, std::int64_t>>> tracks;
  std::map<std::uint64_t, std::vector<std::pair<std::string, std::int64_t>>> open;  // async stack per id
  std::map<std::uint64_t, RequestSlice> requests;
  std::set<std::string> phases, names;
  const std::set<std::string> known_phases = {"loading", "loading (abandoned)", "idle", "prefill", "decode",
                                              "decode (migrating)", "migration recompute", "migration hand-off"};
  const Json& events = root.at("traceEvents");
  EXPECT_EQ(events.kind, Json::kArray);
  for (const Json& e : events.items) {
    const std::string ph = e.at("ph").text;
    const int pid = static_cast<int>(e.at("pid").number);
    const int tid = static_cast<int>(e.at("tid").number);
    if (ph == "M") {
      if (e.at("name").text != "process_sort_index") names.insert(e.at("args").at("name").text);
      continue;
    }
    const std::int64_t ts = ns(e.at("ts").number);
    EXPECT_GE(ts, window_start);
    EXPECT_LE(ts, window_end);
    if (ph == "X") {
      const std::int64_t dur = ns(e.at("dur").number);
      EXPECT_GT(dur, 0);
      EXPECT_LE(ts + dur, window_end);
      const std::string name = e.at("name").text;
      EXPECT_TRUE(known_phases.count(name)) << name;
      phases.insert(name);
      if (name.starts_with("loading")) {
        EXPECT_TRUE(e.at("args").get("tier") != nullptr);
        EXPECT_GT(e.at("args").at("bytes").number, 0);
      }
      tracks[{pid, tid}].emplace_back(ts, ts + dur);
    } else if (ph == "b" || ph == "e") {
      const auto id = static_cast<std::uint64_t>(e.at("id").number);
      const std::string name = e.at("name").text;
      auto& stack = open[id];
      if (ph == "b") {
        if (name == "request") {
          EXPECT_TRUE(stack.empty()) << "request " << id << " begun twice";
          requests[id].begin = ts;
          requests[id].outcome = e.at("args").at("outcome").text;
        } else {
          EXPECT_FALSE(stack.empty()) << name << " of request " << id << " outside its request slice";
        }
        stack.emplace_back(name, ts);
      } else {
        EXPECT_FALSE(stack.empty()) << "an end without a begin, request " << id;
        if (stack.empty()) continue;
        EXPECT_EQ(stack.back().first, name) << "async slices of request " << id << " not nested";
        EXPECT_GE(ts, stack.back().second);
        stack.pop_back();
        if (name == "request") requests[id].end = ts;
      }
    } else if (ph == "C") {
      EXPECT_GE(e.at("args").at("bytes_per_s").number, 0);
    } else if (ph == "i") {
      EXPECT_GT(e.at("args").at("estimated_startup_s").number, 0);
    } else {
      ADD_FAILURE() << "unexpected phase " << ph;
    }
  }
  for (const auto& [id, stack] : open) EXPECT_TRUE(stack.empty()) << "request " << id << " never ended";
  for (auto& [track, slices] : tracks) {
    std::sort(slices.begin(), slices.end());
    for (std::size_t i = 1; i < slices.size(); ++i) {
      EXPECT_LE(slices[i - 1].second, slices[i].first)
          << "overlapping slices on server " << track.first << " GPU " << track.second;
    }
  }
  EXPECT_TRUE(names.count("server 0") && names.count("GPU 3") && names.count("links") && names.count("requests"));
  return requests;
}

TEST(SimTimeline, DefaultConfigTraceIsWellFormedAndMatchesRequests) {
  const RunResult run = run_default("timeline_full", {"output.timeline={request_sample: 1.0}"});
  const Json root = read_timeline(run.dir);
  const std::int64_t end = from_seconds(root.at("otherData").at("window_end_s").number);
  const auto requests = check_structure(root, 0, end);

  // Every request that left the system is drawn (sample 1.0), at its requests.csv times.
  const auto rows = read_csv(run.dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 400u);
  ASSERT_EQ(requests.size(), rows.size());
  for (const Row& row : rows) {
    const auto id = static_cast<std::uint64_t>(num(row, "id"));
    const auto it = requests.find(id);
    ASSERT_NE(it, requests.end()) << "request " << id;
    EXPECT_NEAR(static_cast<double>(it->second.begin), num(row, "arrival_s") * 1e9, 1e3);
    if (row.at("outcome") == "completed") {
      EXPECT_NEAR(static_cast<double>(it->second.end), num(row, "completion_s") * 1e9, 1e3);
    }
    EXPECT_EQ(it->second.outcome, row.at("outcome"));
  }
  // Cold starts happened: loading, prefill, decode and idle slices are all there, with the GPU time of
  // loading slices on a track matching a whole number of loads.
  std::set<std::string> seen;
  for (const Json& e : root.at("traceEvents").items) {
    if (e.at("ph").text == "X") seen.insert(e.at("name").text);
  }
  for (const char* p : {"loading", "prefill", "decode", "idle"}) EXPECT_TRUE(seen.count(p)) << p;
}

// A load that finishes hands its GPU, at that instant, to its own instance's next phase (serving or idle);
// one abandoned for a sooner start elsewhere (load replacement) ends its instance instead, and is drawn as
// "loading (abandoned)" so that it does not read as a finished load (nor make loads look short).
TEST(SimTimeline, AbandonedLoadsAreDrawnApartFromFinishedOnes) {
  const RunResult run =
      run_default("timeline_abandoned", {"output.timeline={request_sample: 0}", "policy.replace_loads=true"});
  const Json root = read_timeline(run.dir);
  const std::int64_t end = from_seconds(root.at("otherData").at("window_end_s").number);
  struct Slice {
    std::int64_t start, end;
    std::string name, model;
    double instance;
  };
  std::map<std::pair<double, double>, std::vector<Slice>> tracks;
  for (const Json& e : root.at("traceEvents").items) {
    if (e.at("ph").text != "X") continue;
    const std::int64_t ts = ns(e.at("ts").number);
    tracks[{e.at("pid").number, e.at("tid").number}].push_back(
        {ts, ts + ns(e.at("dur").number), e.at("name").text, e.at("args").at("model").text,
         e.at("args").at("instance").number});
  }
  std::uint64_t finished = 0, abandoned = 0;
  for (auto& [track, slices] : tracks) {
    std::sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) { return a.start < b.start; });
    for (std::size_t i = 0; i < slices.size(); ++i) {
      const Slice& s = slices[i];
      if (!s.name.starts_with("loading")) continue;
      const Slice* next = i + 1 < slices.size() && slices[i + 1].start == s.end ? &slices[i + 1] : nullptr;
      const bool own_next = next != nullptr && next->instance == s.instance && next->model == s.model;
      if (s.name == "loading") {  // the same instance goes on (or the load grows its GPU set, or the run ends)
        ++finished;
        EXPECT_TRUE(own_next || s.end == end) << "a load ending at " << s.end << " ns without its instance going on";
      } else {
        ++abandoned;
        EXPECT_LT(s.end, end);
        EXPECT_FALSE(own_next && !next->name.starts_with("loading"))
            << "an abandoned load at " << s.end << " ns followed by its own instance serving";
      }
    }
  }
  EXPECT_GT(finished, 0u);
  // Only load replacement abandons loads here (no migrations in this scenario); a replacement at the very
  // instant of its placement draws nothing.
  EXPECT_EQ(run.summary.migrations_started, 0u);
  EXPECT_GT(abandoned, 0u);
  EXPECT_LE(abandoned, run.summary.loads_replaced);
}

TEST(SimTimeline, RecordingDoesNotChangeTheRunAndIsDeterministic) {
  const RunResult plain = run_default("timeline_off", {});
  const std::vector<std::string> on = {"output.timeline={request_sample: 0.3}", "output.time_series={interval: 5 s}"};
  const RunResult a = run_default("timeline_a", on);
  const RunResult b = run_default("timeline_b", on);
  EXPECT_FALSE(std::filesystem::exists(plain.dir + "/timeline.json"));
  EXPECT_FALSE(std::filesystem::exists(plain.dir + "/timeseries.csv"));
  EXPECT_EQ(plain.summary.fingerprint, a.summary.fingerprint);
  EXPECT_EQ(read_text(plain.dir + "/requests.csv"), read_text(a.dir + "/requests.csv"));
  for (const char* f : {"timeline.json", "timeseries.csv", "models.csv", "servers.csv"}) {
    EXPECT_EQ(read_text(a.dir + "/" + f), read_text(b.dir + "/" + f)) << f;
  }
}

TEST(SimTimeline, SampleIsStableAcrossSeedsAndNearItsShare) {
  const auto ids = [](const std::string& dir) {
    std::set<std::uint64_t> out;
    const Json root = read_timeline(dir);
    for (const Json& e : root.at("traceEvents").items) {
      if (e.at("ph").text == "b" && e.at("name").text == "request") out.insert(static_cast<std::uint64_t>(e.at("id").number));
    }
    return out;
  };
  const std::vector<std::string> on = {"workload.requests=2000", "output.timeline={request_sample: 0.25}"};
  const RunResult a = run_default("timeline_seed1", on);
  std::vector<std::string> other = on;
  other.push_back("simulation.seed=7");
  const RunResult b = run_default("timeline_seed7", other);
  const auto sa = ids(a.dir), sb = ids(b.dir);
  // Both runs see requests 0..1999 (ids are arrival order): membership depends on the id alone.
  EXPECT_EQ(sa, sb);
  // Binomial(2000, 0.25): mean 500, sd 19.4; 6 sd either way.
  EXPECT_GT(sa.size(), 384u);
  EXPECT_LT(sa.size(), 616u);
}

TEST(SimTimeline, WindowAndEventBoundKeepTheFileSmall) {
  const RunResult w = run_default("timeline_window",
                            {"workload.requests=2000", "output.timeline={start: 300 s, end: 600 s, request_sample: 0.5}"});
  const Json root = read_timeline(w.dir);
  check_structure(root, from_seconds(300), from_seconds(600));

  const RunResult capped = run_default("timeline_capped",
                                 {"workload.requests=2000", "output.timeline={request_sample: 1.0, max_events: 300}"});
  const Json c = read_timeline(capped.dir);
  check_structure(c, 0, from_seconds(c.at("otherData").at("window_end_s").number));  // still whole requests
  std::size_t non_meta = 0;
  for (const Json& e : c.at("traceEvents").items) non_meta += e.at("ph").text != "M";
  EXPECT_LE(non_meta, 300u);
  EXPECT_GT(c.at("otherData").at("events_dropped").number, 0);
  // 300 events of at most ~400 bytes plus the metadata of 4 servers x 4 GPUs.
  EXPECT_LT(std::filesystem::file_size(capped.dir + "/timeline.json"), 300u * 400u + 16u * 1024u);
}

TEST(SimTimeline, TimeSeriesConservesRequestsAndTablesAddUp) {
  const RunResult run = run_default("timeseries", {"output.time_series={interval: 10 s}"});
  const auto rows = read_csv(run.dir + "/timeseries.csv");
  ASSERT_GT(rows.size(), 10u);
  double previous_t = -1, previous_arrived = 0;
  for (const Row& r : rows) {
    const double t = num(r, "time_s");
    EXPECT_GT(t, previous_t);
    if (previous_t >= 0 && &r != &rows.back()) {
      EXPECT_NEAR(t - previous_t, 10.0, 1e-9);
    }
    previous_t = t;
    EXPECT_GE(num(r, "arrived"), previous_arrived);
    previous_arrived = num(r, "arrived");
    EXPECT_EQ(num(r, "arrived"),
              num(r, "completed") + num(r, "timed_out") + num(r, "rejected") + num(r, "queued") + num(r, "running"))
        << "at " << t << " s";
    EXPECT_LE(num(r, "gpus_busy"), num(r, "gpus_allocated"));
    EXPECT_LE(num(r, "gpus_allocated"), 16);
    for (const auto& [key, value] : r) {
      if (key.rfind("util:", 0) == 0) {
        EXPECT_GE(std::stod(value), 0) << key;
        EXPECT_LE(std::stod(value), 1 + 1e-9) << key;
      }
    }
  }
  const Row& last = rows.back();
  EXPECT_NEAR(num(last, "time_s"), to_seconds(run.summary.makespan), 1e-3);
  EXPECT_EQ(num(last, "arrived"), static_cast<double>(run.summary.arrived));
  EXPECT_EQ(num(last, "completed"), static_cast<double>(run.summary.completed));
  EXPECT_EQ(num(last, "queued") + num(last, "running"), 0);

  // models.csv against requests.csv, computed here independently (nearest-rank quantiles).
  const auto requests = read_csv(run.dir + "/requests.csv");
  std::map<std::string, std::vector<double>> ttft;
  std::map<std::string, double> arrived;
  for (const Row& r : requests) {
    ++arrived[r.at("model")];
    if (r.at("outcome") == "completed") ttft[r.at("model")].push_back(num(r, "ttft_s"));
  }
  double total_arrived = 0, total_loads = 0;
  for (const Row& m : read_csv(run.dir + "/models.csv")) {
    const std::string name = m.at("model");
    EXPECT_EQ(num(m, "arrived"), arrived[name]) << name;
    total_arrived += num(m, "arrived");
    total_loads += num(m, "loads");
    auto& v = ttft[name];
    EXPECT_EQ(num(m, "completed"), static_cast<double>(v.size()));
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    const auto rank = [&](double p) { return v[static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1]; };
    EXPECT_NEAR(num(m, "ttft_p50_s"), rank(0.5), 2e-6) << name;
    EXPECT_NEAR(num(m, "ttft_p99_s"), rank(0.99), 2e-6) << name;
  }
  EXPECT_EQ(total_arrived, 400);
  // The tables count loads that finished: every load started finished or was replaced (no horizon here).
  const double finished_loads = static_cast<double>(run.summary.loads - run.summary.loads_replaced);
  EXPECT_EQ(total_loads, finished_loads);
  double server_loads = 0, busy = 0, bytes_per_load = 0;
  for (const Row& s : read_csv(run.dir + "/servers.csv")) {
    const double loads = num(s, "loads_remote") + num(s, "loads_ssd") + num(s, "loads_dram");
    server_loads += loads;
    // One model size in this config: every load moves the same checkpoint.
    if (loads > 0 && bytes_per_load == 0) bytes_per_load = num(s, "bytes_loaded") / loads;
    EXPECT_EQ(num(s, "bytes_loaded"), loads * bytes_per_load);
    EXPECT_GE(num(s, "gpu_busy_share"), 0);
    EXPECT_LE(num(s, "gpu_busy_share"), 1);
    busy += num(s, "gpu_busy_share") * num(s, "gpus");
  }
  EXPECT_EQ(server_loads, finished_loads);
  // The servers' busy GPU time adds up to the run's busy fraction (same cluster-wide integral).
  EXPECT_NEAR(busy / 16.0, run.summary.gpu_busy_fraction, 1e-6);
}

TEST(SimTimeline, BadOutputKeysAreInputErrors) {
  EXPECT_THROW(Scenario::load(kDefault, {"output.timeline={start: 10 s, end: 5 s}"}), InputError);
  EXPECT_THROW(Scenario::load(kDefault, {"output.timeline={request_sample: 2}"}), InputError);
  EXPECT_THROW(Scenario::load(kDefault, {"output.time_series={interval: 0 s}"}), InputError);
  EXPECT_THROW(Scenario::load(kDefault, {"output.timeline={colour: red}"}), InputError);
}

}  // namespace
}  // namespace sllm
