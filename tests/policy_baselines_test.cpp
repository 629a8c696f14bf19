// Ray Serve, Ray Serve with cache and KServe on one single-GPU server with no initial local copy
// (ssd_replicas 0): two requests for one model 100 s apart, the instance unloaded 1 s after each. Load
// time by hand (OPT-6.7B, B bytes): download B / 1.25 GB/s (10 Gbps) + pipeline fill + 0.5 s runtime
// init, then the read from local disk B / 6 GB/s; a cache hit skips the download. Pipeline fill: one
// 32 MiB chunk through every link of the path but the governing one: from the remote store, two more
// 10 Gbps links (network, NIC to DRAM) plus DRAM read and PCIe at 25 GB/s; from the SSD, the last two.
#include <gtest/gtest.h>

#include "policy_test_util.h"

namespace sllm::testing {
namespace {

constexpr double kChunk = 32.0 * 1024 * 1024;
constexpr double kRemoteFill = 2 * kChunk / 1.25e9 + 2 * kChunk / 25e9;
constexpr double kSsdFill = 2 * kChunk / 25e9;

struct Result {
  std::vector<Row> rows;
  double bytes = 0;
};

Result run_twice(const std::string& policy, const std::string& name) {
  const Scenario sc = scenario_from_yaml(
      policy_cluster_yaml(1, 1, false, 0, "  name: " + policy + "\n  keep_alive: {name: fixed, timeout: 1 s}"));
  const std::string dir = temp_dir(name);
  Simulator sim(sc);
  sim.run(with_requests({request(0, 0, 10, 5), request(100, 0, 10, 5)}, dir));
  return {read_csv(dir + "/requests.csv"), static_cast<double>(sc.models[0].checkpoint_bytes)};
}

TEST(RayServe, EveryColdStartDownloads) {
  const Result r = run_twice("ray-serve", "ray");
  ASSERT_EQ(r.rows.size(), 2u);
  for (const Row& row : r.rows) {
    EXPECT_EQ(row.at("cold_start"), "1");
    EXPECT_EQ(row.at("load_tier"), "remote");
    EXPECT_NEAR(num(row, "load_time_s"), r.bytes / 1.25e9 + kRemoteFill + 0.5 + r.bytes / 6e9, 1e-6);
  }
}

TEST(RayServeCache, SecondColdStartHitsTheSsdCache) {
  const Result r = run_twice("ray-serve-cache", "raycache");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(row_of(r.rows, 0).at("load_tier"), "remote");
  EXPECT_EQ(row_of(r.rows, 1).at("cold_start"), "1");
  EXPECT_EQ(row_of(r.rows, 1).at("load_tier"), "ssd");
  EXPECT_NEAR(num(row_of(r.rows, 1), "load_time_s"), r.bytes / 6e9 + kSsdFill + 0.5, 1e-6);
}

TEST(KServe, AddsTheContainerStartToEveryLoad) {
  const Result ray = run_twice("ray-serve", "kray");
  const Scenario sc = scenario_from_yaml(policy_cluster_yaml(
      1, 1, false, 0, "  name: kserve\n  container_start: 7 s\n  keep_alive: {name: fixed, timeout: 1 s}"));
  const std::string dir = temp_dir("kserve");
  Simulator sim(sc);
  sim.run(with_requests({request(0, 0, 10, 5), request(100, 0, 10, 5)}, dir));
  const auto rows = read_csv(dir + "/requests.csv");
  for (std::uint64_t id : {0, 1}) {
    EXPECT_EQ(row_of(rows, id).at("load_tier"), "remote");
    EXPECT_NEAR(num(row_of(rows, id), "load_time_s") - num(row_of(ray.rows, id), "load_time_s"), 7.0, 1e-8);
  }
  EXPECT_THROW(scenario_from_yaml(policy_cluster_yaml(1, 1, false, 0, "  name: kserve\n  container: 7 s")), InputError);
}

}  // namespace
}  // namespace sllm::testing
