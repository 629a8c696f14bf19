// Simulator scale benchmark: 1,000,000 requests on 1,000 GPUs (250 servers x 4 A40) with 200 OPT-6.7B
// checkpoints, bursty arrivals (CV 8), GSM8K lengths, serverlessllm. Reports wall time, simulated
// requests per second of wall time and peak RSS (getrusage). Targets: >= 250,000 req/s, RSS < 1 GiB.
// Baseline measured in the same run: generating the same workload alone (the floor of any simulator).
//   bench_sim_scale [requests]   (default 1000000)
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sllm/core/config_node.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/simulator.h"

namespace {

std::string scenario_yaml(std::uint64_t requests) {
  return R"(cluster:
  remote_store: {bandwidth: 100 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: 250
      gpus: {type: A40, count: 4}
      dram: {capacity: 512 GB}
      ssd: {capacity: 2 TB, read_bandwidth: 6 GB/s}
      nic: 25 Gbps
      pcie: 25 GB/s
models:
  placement: {ssd_replicas: 2}
  deployments:
    - {model: opt-6.7b, count: 200, max_batch_size: 8}
workload:
  kind: synthetic
  requests: )" + std::to_string(requests) + R"(
  rps: 1000
  cv: 8
  popularity: {kind: zipf, s: 0.8}
  lengths: gsm8k
policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: 60 s}
simulation:
  seed: 1
output: {requests_csv: false}
)";
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t requests = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const sllm::Scenario scenario =
      sllm::Scenario::from_config(sllm::ConfigNode::load_string(scenario_yaml(requests), "sim_scale"));

  // Baseline: the workload generator alone.
  const auto g0 = std::chrono::steady_clock::now();
  auto source = scenario.make_source();
  sllm::RequestSpec spec;
  std::uint64_t generated = 0;
  while (source->next(spec)) ++generated;
  const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - g0).count();

  sllm::Simulator sim(scenario);
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const sllm::RunSummary s = sim.run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const double rate = static_cast<double>(s.arrived) / wall;
  const double rss = peak_rss_mib();

  std::printf("sim_scale: %llu requests, %u servers, %u GPUs, %u models, policy %s\n",
              static_cast<unsigned long long>(s.arrived), s.servers, s.gpus, s.models, s.policy.c_str());
  std::printf("  completed %llu, timed out %llu, rejected %llu; cold-start ratio %.3f; mean latency %.2f s, p99 %.2f s\n",
              static_cast<unsigned long long>(s.completed), static_cast<unsigned long long>(s.timed_out),
              static_cast<unsigned long long>(s.rejected),
              s.completed ? static_cast<double>(s.cold_starts) / static_cast<double>(s.completed) : 0.0,
              s.latency.mean, s.latency.p99);
  std::printf("  fingerprint %016llx (event order; identical before and after a refactor)\n",
              static_cast<unsigned long long>(s.fingerprint));
  std::printf("  simulated time %.0f s, %llu events (%.2f M events/s)\n", sllm::to_seconds(s.makespan),
              static_cast<unsigned long long>(s.events), static_cast<double>(s.events) / wall / 1e6);
  std::printf("  wall %.3f s -> %.0f simulated requests/s (target >= 250000: %s)\n", wall, rate,
              rate >= 250000 ? "met" : "NOT met");
  std::printf("  CPU time %.3f s -> %.0f simulated requests per CPU second (wall > CPU means a shared machine)\n",
              cpu, static_cast<double>(s.arrived) / cpu);
  std::printf("  peak RSS %.1f MiB (target < 1024 MiB: %s)\n", rss, rss < 1024 ? "met" : "NOT met");
  std::printf("  baseline: generating the workload alone %.3f s (%.0f requests/s); simulation / generation = %.1fx\n",
              gen_s, static_cast<double>(generated) / gen_s, wall / gen_s);
  return 0;
}
