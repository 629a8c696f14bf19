// Shared scenarios of the policy tests: small clusters of A40 servers with OPT-6.7B checkpoints and the
// paper's bandwidths, so that load times can be worked out by hand (13.4 GB over 10 Gbps ~ 10.7 s, from
// DRAM over PCIe 4.0 ~ 0.54 s, plus 0.5 s runtime init).
#pragma once

#include <string>

#include "sim_test_util.h"

namespace sllm::testing {

// `servers` single-GPU servers; `models` OPT-6.7B checkpoints placed round-robin on SSD (and DRAM when
// `dram`); `policy` is the whole policy section's body.
inline std::string policy_cluster_yaml(int servers, int models, bool dram, int ssd_replicas, const std::string& policy) {
  return R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  runtime_init: 0.5 s
  servers:
    - count: )" + std::to_string(servers) + R"(
      gpus: {type: A40, count: 1}
      dram: {capacity: 512 GB}
      ssd: {capacity: 2 TB, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  placement: {ssd_replicas: )" + std::to_string(ssd_replicas) + ", dram: " + (dram ? "true" : "false") + R"(}
  deployments:
    - {model: opt-6.7b, count: )" + std::to_string(models) + R"(, max_batch_size: 8}
workload: {kind: synthetic, requests: 1, rps: 1}
policy:
)" + policy + R"(
simulation: {seed: 1, request_timeout: 600 s}
output: {timing: false}
)";
}

inline const Row& row_of(const std::vector<Row>& rows, std::uint64_t id) {
  for (const Row& r : rows) {
    if (r.at("id") == std::to_string(id)) return r;
  }
  throw std::runtime_error("no row for request " + std::to_string(id));
}

}  // namespace sllm::testing
