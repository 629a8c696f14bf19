// Faults in the simulation (scenario `faults:`): one hand-computed case per fault kind on a tiny cluster,
// request conservation in each, the stochastic process's determinism and mean count, and bad input.
// Load times follow sim_load_test's closed forms: bytes / bottleneck + one chunk through each other stage
// (pipeline fill) + runtime init.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

#include <sys/wait.h>

#include "sim_test_util.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"

namespace sllm {
namespace {

using namespace sllm::testing;

constexpr double kChunk = 32.0 * 1024 * 1024;
constexpr double kTol = 3e-9;

std::string scenario_yaml(int servers, int gpus, int ssd_replicas, const std::string& faults,
                          const std::string& extra_deployment = "") {
  return R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: )" + std::to_string(servers) + R"(
      gpus: {type: A40, count: )" + std::to_string(gpus) + R"(}
      dram: {capacity: 512 GB, chunk_size: 32 MiB}
      ssd: {capacity: 2 TB, read_bandwidth: 2 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  placement: {ssd_replicas: )" + std::to_string(ssd_replicas) + R"(}
  deployments:
    - {model: opt-6.7b, count: 1)" + extra_deployment + R"(}
workload: {kind: synthetic, requests: 1, rps: 1}
policy: {name: serverlessllm}
faults:
)" + faults;
}

double bytes() { return static_cast<double>(ModelCatalog::builtin().get("opt-6.7b", "test").checkpoint_bytes()); }
// One GPU per instance: the remote path's bottleneck is the 10 Gbps store uplink, network and NIC; the
// fill crosses the other two of them, the DRAM side (1 GPU x 25 GB/s) and the PCIe link.
double remote_load() { return bytes() / 1.25e9 + 2 * kChunk / 1.25e9 + kChunk / 25e9 + kChunk / 25e9 + 0.5; }
double ssd_load(double ssd_bandwidth = 2e9) { return bytes() / ssd_bandwidth + 2 * kChunk / 25e9 + 0.5; }

void expect_conserved(const RunSummary& s) {
  EXPECT_EQ(s.arrived, s.completed + s.timed_out + s.rejected + s.failed + s.running);
}

TEST(SimFaults, ServerCrashMidLoadFailsTheLoadAndTheRequestIsServedByTheOtherServer) {
  // The checkpoint is on server 0's SSD: the request's load starts there at 0 and would take ~6.7 s.
  const Scenario s = scenario_from_yaml(scenario_yaml(2, 1, 1, "  events: [{kind: server_crash, at: 1 s, server: 0, duration: 1000 s}]\n"));
  ASSERT_TRUE(s.faults.any());
  const std::string dir = temp_dir("fault_crash");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 0, 10, 2)}, dir));
  expect_conserved(sum);
  EXPECT_EQ(sum.completed, 1u);
  EXPECT_EQ(sum.faults, 1u);
  EXPECT_EQ(sum.loads_failed, 1u);
  EXPECT_EQ(sum.loads, 2u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 1u);
  // Placed again at the crash on server 1, which has it only in the remote store.
  EXPECT_EQ(rows[0].at("server"), "1");
  EXPECT_EQ(rows[0].at("load_tier"), "remote");
  EXPECT_NEAR(num(rows[0], "load_time_s"), remote_load(), kTol);
  EXPECT_NEAR(num(rows[0], "service_start_s"), 1.0 + remote_load(), kTol);
  // Server 0 was down from 1 s to the end of the run (the makespan).
  EXPECT_NEAR(sum.server_down_seconds, to_seconds(sum.makespan) - 1.0, 1e-9);
  EXPECT_NEAR(sum.gpu_availability, 1.0 - (to_seconds(sum.makespan) - 1.0) / (2 * to_seconds(sum.makespan)), 1e-9);
}

TEST(SimFaults, CrashedServerLosesItsDramAndOptionallyItsSsd) {
  // A crash and recovery before the request: with the SSD kept the load comes from it; without, from
  // the remote store.
  const std::string crash = "  events: [{kind: server_crash, at: 0 s, server: 0, duration: 1 s}]\n";
  for (const bool ssd_survives : {true, false}) {
    const Scenario s = scenario_from_yaml(scenario_yaml(1, 1, 1, crash + "  ssd_survives_crash: " + (ssd_survives ? "true" : "false") + "\n"));
    const std::string dir = temp_dir(ssd_survives ? "fault_ssd_kept" : "fault_ssd_lost");
    Simulator sim(s);
    const RunSummary sum = sim.run(with_requests({request(2.0, 0, 10, 2)}, dir));
    expect_conserved(sum);
    EXPECT_NEAR(sum.server_down_seconds, 1.0, 1e-9);
    const auto rows = read_csv(dir + "/requests.csv");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].at("load_tier"), ssd_survives ? "ssd" : "remote");
    EXPECT_NEAR(num(rows[0], "load_time_s"), ssd_survives ? ssd_load() : remote_load(), kTol);
  }
}

TEST(SimFaults, LinkAtHalfBandwidthDoublesTheTransfer) {
  const Scenario s = scenario_from_yaml(scenario_yaml(
      1, 1, 1, "  events: [{kind: link_degradation, at: 0 s, link: server0.ssd_read, factor: 0.5, duration: 1000 s}]\n"));
  const std::string dir = temp_dir("fault_degraded");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.1, 0, 10, 2)}, dir));
  expect_conserved(sum);
  EXPECT_EQ(sum.loads_failed, 0u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("load_tier"), "ssd");
  EXPECT_NEAR(num(rows[0], "load_time_s"), ssd_load(1e9), kTol);  // 2 GB/s halved; the fill is unchanged
}

TEST(SimFaults, RemoteStoreOutageDelaysARemoteLoadByTheOutage) {
  const Scenario s = scenario_from_yaml(scenario_yaml(1, 1, 0, "  events: [{kind: remote_store_outage, at: 1 s, duration: 5 s}]\n"));
  const std::string dir = temp_dir("fault_store");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 0, 10, 2)}, dir));
  expect_conserved(sum);
  EXPECT_EQ(sum.completed, 1u);
  EXPECT_EQ(sum.loads_failed, 0u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NEAR(num(rows[0], "load_time_s"), remote_load() + 5.0, kTol);
}

TEST(SimFaults, LinkOutageFailsTheLoadOverItAndTheRequestIsPlacedAgain) {
  const Scenario s = scenario_from_yaml(
      scenario_yaml(2, 1, 0, "  events: [{kind: link_outage, at: 1 s, link: server0.network, duration: 100 s}]\n"));
  const std::string dir = temp_dir("fault_link_out");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 0, 10, 2)}, dir));
  expect_conserved(sum);
  EXPECT_EQ(sum.completed, 1u);
  EXPECT_EQ(sum.loads_failed, 1u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 1u);
  // The policy does not see the outage (# assumed in docs/reliability.md): both servers are free and
  // equally far from the store, so it starts the new load on server 0 again, where it stalls on the
  // dead link from 1 s until the repair at 101 s, then transfers the whole checkpoint.
  EXPECT_EQ(rows[0].at("server"), "0");
  EXPECT_NEAR(num(rows[0], "load_time_s"), 100.0 + remote_load(), kTol);
  EXPECT_NEAR(num(rows[0], "service_start_s"), 101.0 + remote_load(), kTol);
}

// A warm instance on GPU 0 decodes a long request; GPU 0 fails at 1 s.
Scenario gpu_failure_scenario(const std::string& running) {
  return scenario_from_yaml(scenario_yaml(
      1, 2, 1,
      "  running: " + running + "\n  events: [{kind: gpu_failure, at: 1 s, server: 0, gpu: 0, duration: 1000 s}]\n",
      ", warm_instances: 1"));
}

TEST(SimFaults, GpuFailureDuringDecodeRestartsTheRequestUnderRestart) {
  const std::string dir = temp_dir("fault_gpu_restart");
  const Scenario s = gpu_failure_scenario("restart");  // the simulator keeps a reference to it
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 0, 10, 2000)}, dir));
  expect_conserved(sum);
  EXPECT_EQ(sum.completed, 1u);
  EXPECT_EQ(sum.failed, 0u);
  EXPECT_EQ(sum.fault_restarts, 1u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("preemptions"), "1");
  EXPECT_EQ(rows[0].at("gpus"), "1");  // GPU 0 is out of service
  EXPECT_NE(rows[0].at("lost_tokens"), "0");
  // Restarted from scratch at 1 s on GPU 1, loading from the server's SSD (two GPUs: the DRAM side
  // carries 2 x 25 GB/s).
  EXPECT_NEAR(num(rows[0], "service_start_s"), 1.0 + bytes() / 2e9 + kChunk / 50e9 + kChunk / 25e9 + 0.5, kTol);
}

TEST(SimFaults, GpuFailureDuringDecodeLosesTheRequestUnderLose) {
  const std::string dir = temp_dir("fault_gpu_lose");
  const Scenario s = gpu_failure_scenario("lose");
  Simulator sim(s);
  const RunSummary sum = sim.run(with_requests({request(0.0, 0, 10, 2000), request(2.0, 0, 10, 2)}, dir));
  expect_conserved(sum);
  EXPECT_EQ(sum.failed, 1u);
  EXPECT_EQ(sum.completed, 1u);  // the second request is served on GPU 1
  EXPECT_EQ(sum.fault_restarts, 0u);
  const auto rows = read_csv(dir + "/requests.csv");
  ASSERT_EQ(rows.size(), 2u);
  const Row& lost = rows[0].at("id") == "0" ? rows[0] : rows[1];
  EXPECT_EQ(lost.at("outcome"), "failed");
  // Censored like a timeout in the headline distribution: the maximum is the request timeout.
  EXPECT_NEAR(sum.latency_censored.max, to_seconds(sum.request_timeout), 1e-9);
}

// Many servers crashing as exponential processes: one request at the end keeps the run going until
// the horizon.
RunSummary stochastic_run(std::uint64_t seed) {
  const std::string yaml =
      scenario_yaml(10, 1, 1, "  processes: [{kind: server_crash, mtbf: 3600 s, repair: 600 s}]\n") +
      "simulation: {seed: " + std::to_string(seed) + ", horizon: 3600000 s}\n";
  const Scenario s = scenario_from_yaml(yaml);
  Simulator sim(s);
  return sim.run(with_requests({request(3599990.0, 0, 10, 2)}));
}

TEST(SimFaults, StochasticProcessIsDeterministicPerSeedAndMatchesItsMeanRate) {
  const RunSummary a = stochastic_run(7), b = stochastic_run(7), c = stochastic_run(8);
  EXPECT_EQ(a.faults, b.faults);
  EXPECT_EQ(a.server_down_seconds, b.server_down_seconds);
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  EXPECT_NE(a.server_down_seconds, c.server_down_seconds);
  EXPECT_NE(a.fingerprint, c.fingerprint);
  // 10 alternating renewal processes (up ~ Exp(1 h), down ~ Exp(10 min)) over 1000 h: expected onsets
  // 10 x 1000 / (70/60) = 8571.4 with a standard deviation of about 80 (variance of a cycle 3700 min^2,
  // mean 70 min: count variance ~ T var / mean^3); 5% is about 5 standard deviations.
  for (const RunSummary* r : {&a, &c}) {
    expect_conserved(*r);
    const double expected = 10 * 1000.0 / (70.0 / 60.0);
    EXPECT_NEAR(static_cast<double>(r->faults), expected, 0.05 * expected);
    // Down a sixth of the time: repair / (mtbf + repair) = 1/7 of the GPU-time.
    EXPECT_NEAR(r->gpu_availability, 6.0 / 7.0, 0.02);
    EXPECT_NEAR(r->server_down_seconds, 10 * 3600000.0 / 7.0, 0.05 * 10 * 3600000.0 / 7.0);
  }
}

void expect_input_error(const std::string& faults, const std::string& names) {
  try {
    const Scenario s = scenario_from_yaml(scenario_yaml(2, 2, 1, faults));
    Simulator sim(s);
    sim.run(with_requests({request(0.0, 0, 10, 2)}));
    ADD_FAILURE() << "accepted: " << faults;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }
}

TEST(SimFaults, BadFaultsInputIsAnInputErrorNamingTheField) {
  expect_input_error("  events: [{kind: meteor, at: 1 s, duration: 1 s}]\n", "faults.events[0].kind");
  expect_input_error("  events: [{kind: server_crash, at: 1 s, server: 0}]\n", "duration");
  expect_input_error("  events: [{kind: server_crash, at: 1 s, server: 2, duration: 1 s}]\n", "faults.events[0].server");
  expect_input_error("  events: [{kind: gpu_failure, at: 1 s, server: 1, gpu: 2, duration: 1 s}]\n", "faults.events[0].gpu");
  expect_input_error("  events: [{kind: server_crash, at: -1 s, server: 0, duration: 1 s}]\n", "faults.events[0].at");
  expect_input_error("  events: [{kind: link_degradation, at: 1 s, link: server0.network, factor: 2, duration: 1 s}]\n",
                     "faults.events[0].factor");
  expect_input_error("  events: [{kind: link_outage, at: 1 s, link: server9.network, duration: 1 s}]\n", "server9.network");
  expect_input_error("  processes: [{kind: gpu_failure, mtbf: 0 s, repair: 1 s}]\n", "faults.processes[0].mtbf");
  expect_input_error("  running: maybe\n", "faults.running");
  expect_input_error("  colour: red\n", "colour");
}

TEST(SimFaults, BadFaultsInputExitsTwoFromTheCli) {
  const std::string dir = temp_dir("fault_cli");
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/bad.yaml";
  std::ofstream(config) << scenario_yaml(1, 1, 1, "  events: [{kind: server_crash, at: 1 s, server: 0}]\n");
  const std::string cmd = std::string(SLLM_BINARY) + " run -q -c " + config + " 2> " + dir + "/err.txt";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(read_text(dir + "/err.txt").find("faults.events[0]"), std::string::npos) << read_text(dir + "/err.txt");
}

}  // namespace
}  // namespace sllm
