// Ray Serve, Ray Serve with cache and KServe load as their systems do: through their loader mode's law in
// the scenario's profile, without ServerlessLLM's per-server loading queue. One single-GPU server
// (unless said), OPT-6.7B (B bytes), a profile with laws sllm SSD 6 GB/s (overhead 0), safetensors
// 1.5 GB/s + 0.25 s, torch 1 GB/s + 0.5 s; runtime_init 0.5 s. Load times by hand:
//   remote (download, then the mode's read): B / 1.25 GB/s (10 Gbps) + B / bw + overhead + 0.5 s
//   SSD (the mode's read, capped by its law below the 6 GB/s SSD): B / bw + overhead + 0.5 s
//   ServerlessLLM from SSD (the scenario's sllm law replaces the pipeline fill): B / 6 GB/s + 0.5 s
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "policy_test_util.h"
#include "sllm/sim/cluster_view.h"

namespace sllm::testing {
namespace {

constexpr double kSafetensorsBw = 1.5e9, kSafetensorsOverhead = 0.25;
constexpr double kTorchBw = 1e9, kTorchOverhead = 0.5;

std::string profile_path() {
  static const std::string path = [] {
    const std::string dir = temp_dir("baseline_profile");
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/p.yaml") << R"(profile_version: 1
machine: {cpu: t, gpu: t, disk: t, driver: t, kernel: t, date: t, device: t}
loader:
  chunk_size: "0 B"
  modes:
    sllm: {ssd: {bandwidth: "6 GB/s", overhead: "0 ns", points: 0}}
    safetensors: {ssd: {bandwidth: "1.5 GB/s", overhead: "0.25 s", points: 0}}
    torch: {ssd: {bandwidth: "1 GB/s", overhead: "0.5 s", points: 0}}
)";
    return dir + "/p.yaml";
  }();
  return path;
}

// policy_cluster_yaml on the profile (which gives the SSD's bandwidth), `gpus` GPUs per server.
std::string cluster_yaml(int models, int ssd_replicas, const std::string& policy, int gpus = 1,
                         bool with_profile = true) {
  std::string y = policy_cluster_yaml(1, models, false, ssd_replicas, policy);
  if (!with_profile) return y;
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = y.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    y.replace(at, from.size(), to);
  };
  replace("ssd: {capacity: 2 TB, read_bandwidth: 6 GB/s}", "ssd: {capacity: 2 TB}");
  replace("runtime_init: 0.5 s\n", "runtime_init: 0.5 s\n  profile: {file: " + profile_path() + ", loader: sllm}\n");
  replace("gpus: {type: A40, count: 1}", "gpus: {type: A40, count: " + std::to_string(gpus) + "}");
  return y;
}

struct Result {
  std::vector<Row> rows;
  double bytes = 0;
};

Result run(const std::string& yaml, const std::string& name, const std::vector<RequestSpec>& requests) {
  const Scenario sc = scenario_from_yaml(yaml);
  const std::string dir = temp_dir(name);
  Simulator sim(sc);
  sim.run(with_requests(requests, dir));
  return {read_csv(dir + "/requests.csv"), static_cast<double>(sc.models[0].checkpoint_bytes)};
}

// Two requests for one model 100 s apart, the instance unloaded 1 s after each.
Result run_twice(const std::string& policy_body, const std::string& name) {
  return run(cluster_yaml(1, 0, policy_body + "\n  keep_alive: {name: fixed, timeout: 1 s}"), name,
             {request(0, 0, 10, 5), request(100, 0, 10, 5)});
}

TEST(RayServe, EveryColdStartDownloadsThenLoadsWithSafetensors) {
  const Result r = run_twice("  name: ray-serve", "ray");
  ASSERT_EQ(r.rows.size(), 2u);
  for (const Row& row : r.rows) {
    EXPECT_EQ(row.at("cold_start"), "1");
    EXPECT_EQ(row.at("load_tier"), "remote");
    EXPECT_NEAR(num(row, "load_time_s"), r.bytes / 1.25e9 + r.bytes / kSafetensorsBw + kSafetensorsOverhead + 0.5,
                1e-6);
  }
}

TEST(RayServeCache, SecondColdStartReadsTheSsdCopyWithSafetensors) {
  const Result r = run_twice("  name: ray-serve-cache", "raycache");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(row_of(r.rows, 0).at("load_tier"), "remote");
  EXPECT_EQ(row_of(r.rows, 1).at("cold_start"), "1");
  EXPECT_EQ(row_of(r.rows, 1).at("load_tier"), "ssd");
  EXPECT_NEAR(num(row_of(r.rows, 1), "load_time_s"), r.bytes / kSafetensorsBw + kSafetensorsOverhead + 0.5, 1e-6);
}

TEST(KServe, AddsThePodStartToEveryLoadAndHonoursItsLoaderMode) {
  const Result r = run_twice("  name: kserve\n  container_start: 7 s", "kserve");
  for (std::uint64_t id : {0, 1}) {
    EXPECT_EQ(row_of(r.rows, id).at("load_tier"), "remote");
    EXPECT_NEAR(num(row_of(r.rows, id), "load_time_s"),
                r.bytes / 1.25e9 + r.bytes / kSafetensorsBw + kSafetensorsOverhead + 0.5 + 7.0, 1e-6);
  }
  const Result torch = run_twice("  name: kserve\n  container_start: 7 s\n  loader: torch", "kserve_torch");
  EXPECT_NEAR(num(row_of(torch.rows, 0), "load_time_s"),
              r.bytes / 1.25e9 + r.bytes / kTorchBw + kTorchOverhead + 0.5 + 7.0, 1e-6);
  EXPECT_THROW(scenario_from_yaml(cluster_yaml(1, 0, "  name: kserve\n  container: 7 s")), InputError);
  EXPECT_THROW(scenario_from_yaml(cluster_yaml(1, 0, "  name: kserve\n  loader: fast")), InputError);
}

TEST(Baselines, NeedTheirLoaderModesLawInTheProfile) {
  // No profile: nothing says how fast Safetensors loads here.
  for (const char* p : {"ray-serve", "ray-serve-cache", "kserve"}) {
    try {
      scenario_from_yaml(cluster_yaml(1, 0, std::string("  name: ") + p, 1, false));
      ADD_FAILURE() << p << " accepted without a profile";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'safetensors'"), std::string::npos) << e.what();
    }
  }
  // A profile without the mode.
  const std::string dir = temp_dir("profile_sllm_only");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/p.yaml") << "profile_version: 1\nmachine: {cpu: t, gpu: t, disk: t, driver: t, kernel: t, "
                                     "date: t, device: t}\nloader: {chunk_size: \"0 B\", modes: {sllm: {ssd: "
                                     "{bandwidth: \"6 GB/s\", overhead: \"0 ns\", points: 0}}}}\n";
  std::string y = cluster_yaml(1, 0, "  name: ray-serve");
  y.replace(y.find(profile_path()), profile_path().size(), dir + "/p.yaml");
  try {
    scenario_from_yaml(y);
    ADD_FAILURE() << "accepted a profile without the safetensors law";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("has no SSD law for it"), std::string::npos) << e.what();
  }
  // The same profile serves ServerlessLLM (its own mode).
  std::string ours = cluster_yaml(1, 0, "  name: serverlessllm");
  ours.replace(ours.find(profile_path()), profile_path().size(), dir + "/p.yaml");
  EXPECT_NO_THROW(scenario_from_yaml(ours));
}

// The view's estimates (what the policies report and ServerlessLLM-style schedulers would rank by) use
// the same per-mode laws as the loads.
TEST(Baselines, EstimatesFollowTheLoaderModesLaw) {
  const Scenario sc = scenario_from_yaml(cluster_yaml(1, 1, "  name: serverlessllm"));
  ClusterState state(sc);
  const ClusterStateView view(state, 0);
  const double b = static_cast<double>(sc.models[0].checkpoint_bytes);
  LoadOptions st;
  st.loader = "safetensors";
  EXPECT_NEAR(to_seconds(view.estimate_load(0, 0, Tier::kSsd, st)), b / kSafetensorsBw + kSafetensorsOverhead + 0.5,
              1e-8);
  EXPECT_NEAR(to_seconds(view.estimate_load(0, 0, Tier::kRemote, st)),
              b / 1.25e9 + b / kSafetensorsBw + kSafetensorsOverhead + 0.5, 1e-8);
  st.extra_startup = from_seconds(10);
  EXPECT_NEAR(to_seconds(view.estimate_load(0, 0, Tier::kSsd, st)), b / kSafetensorsBw + 10.75, 1e-8);
  // The scenario's own mode (and no mode): the topology's SSD at the sllm law, no fill (profiled).
  LoadOptions own;
  own.loader = "sllm";
  EXPECT_NEAR(to_seconds(view.estimate_load(0, 0, Tier::kSsd, own)), b / 6e9 + 0.5, 1e-8);
  EXPECT_EQ(view.estimate_load(0, 0, Tier::kSsd, own), view.estimate_load(0, 0, Tier::kSsd));
}

// Two models on one 2-GPU server, both checkpoints on its SSD, one request each at t = 0.
TEST(Baselines, ReplicasLoadConcurrentlyWithoutTheServerQueue) {
  const std::vector<RequestSpec> both = {request(0, 0, 10, 5), request(0, 1, 10, 5)};
  const Result ray = run(cluster_yaml(2, 1, "  name: ray-serve-cache", 2), "ray_concurrent", both);
  ASSERT_EQ(ray.rows.size(), 2u);
  // Each load is capped at 1.5 GB/s by its loader; the 6 GB/s SSD carries both at that rate at once.
  for (std::uint64_t id : {0, 1}) {
    EXPECT_EQ(row_of(ray.rows, id).at("load_tier"), "ssd");
    EXPECT_NEAR(num(row_of(ray.rows, id), "load_time_s"), ray.bytes / kSafetensorsBw + kSafetensorsOverhead + 0.5,
                1e-6);
  }
  EXPECT_NEAR(num(row_of(ray.rows, 0), "ttft_s"), num(row_of(ray.rows, 1), "ttft_s"), 1e-6);
  // ServerlessLLM's FIFO queue: the second load starts when the first (B / 6 GB/s + 0.5 s) is done.
  const Result sllm = run(cluster_yaml(2, 1, "  name: serverlessllm", 2), "sllm_queued", both);
  const double lone = sllm.bytes / 6e9 + 0.5;
  const double first = std::min(num(row_of(sllm.rows, 0), "ttft_s"), num(row_of(sllm.rows, 1), "ttft_s"));
  const double second = std::max(num(row_of(sllm.rows, 0), "ttft_s"), num(row_of(sllm.rows, 1), "ttft_s"));
  EXPECT_NEAR(second - first, lone, 1e-3);
}

}  // namespace
}  // namespace sllm::testing
