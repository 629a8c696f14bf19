// The sllmsim executable run as a user runs it, for the tests of its subcommands.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sllm::testing {

struct CliResult {
  int status = -1;     // exit status; -1 when the process did not exit normally
  std::string output;  // stdout and stderr, interleaved
};

// Runs a shell command line, collecting its stdout and stderr.
inline CliResult run_command(const std::string& command) {
  CliResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;  // could not start a shell: status -1
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The sllmsim executable under test: SLLM_BINARY in the environment overrides the build's path
// (binaries copied to a GPU host).
inline std::string sllmsim_binary() {
  const char* binary = std::getenv("SLLM_BINARY");
  return binary != nullptr ? binary : SLLM_BINARY;
}

// Runs `sllmsim ARGS`; `env` (e.g. "LD_PRELOAD=... ") goes in front of the whole command.
inline CliResult run_sllmsim(const std::string& args, const std::string& env = "") {
  return run_command(env + " " + sllmsim_binary() + " " + args);
}

// A small scenario (two servers of two GPUs, six OPT-2.7B checkpoints, 60 bursty requests) that the sweep
// tests vary: each point runs in milliseconds.
inline constexpr const char* kSmallSweepBase = R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  servers:
    - count: 2
      gpus: {type: A40, count: 2}
      dram: {capacity: 64 GB}
      ssd: {capacity: 1 TB, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
models:
  deployments:
    - {model: opt-2.7b, count: 6}
workload:
  kind: synthetic
  requests: 60
  rps: 1.0
  cv: 2
  lengths: gsm8k
policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: 10 s}
)";

}  // namespace sllm::testing
