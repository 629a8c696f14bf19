// The paper's locality-contention example (section 3): model A runs on server 0, which holds model B's
// checkpoint in DRAM; B arrives. Two single-GPU servers; checkpoint k on server k mod 2 (SSD + DRAM):
// B = model 0 (server 0), A = model 1 (server 1), F = model 3 (server 1). F arrives first and occupies
// server 1 while it loads, so A (arriving at 0.1 s) must start on server 0, downloading from the remote
// store (13.4 GB over 10 Gbps ~ 10.7 s); F is unloaded 2 s after it finishes. B arrives at 20 s while A
// decodes (1,500 tokens at ~24 ms a step: until ~48 s). B's options: server 1 from the remote store
// (~11.2 s) or server 0 from DRAM (~1.05 s) once A is out of the way:
//  - serverlessllm + migration: A migrates to server 1 (loads from DRAM there, ~1.05 s, plus one
//    recomputation of ~460 tokens), B starts on server 0 in ~2.2 s; A loses nothing;
//  - serverlessllm without migration: B downloads on server 1 (~11.2 s);
//  - shepherd: A is preempted (its ~350 tokens lost), B starts from DRAM, A restarts on server 1.
#include <gtest/gtest.h>

#include "policy_test_util.h"

namespace sllm::testing {
namespace {

constexpr std::uint64_t kA = 1, kB = 2;
constexpr std::uint32_t kAInput = 100, kAOutput = 1500;

struct Outcome {
  RunSummary summary;
  std::vector<Row> rows;
};

Outcome run_contention(const std::string& policy, double b_arrival, const std::string& name, bool with_b = true) {
  const Scenario sc = scenario_from_yaml(policy_cluster_yaml(2, 4, true, 1, policy));
  std::vector<RequestSpec> reqs = {request(0.0, 3, 10, 1), request(0.1, 1, kAInput, kAOutput)};
  if (with_b) reqs.push_back(request(b_arrival, 0, 10, 10));
  const std::string dir = temp_dir(name);
  Simulator sim(sc);
  Outcome o;
  o.summary = sim.run(with_requests(reqs, dir));
  o.rows = read_csv(dir + "/requests.csv");
  return o;
}

// Load replacement off: the example needs A to stay on server 0 (with it, A's remote load would give way
// to server 1's DRAM copy once F finishes; tests/sim_load_replacement_test.cpp covers that).
const std::string kMigration =
    "  name: serverlessllm\n  replace_loads: false\n  keep_alive: {name: fixed, timeout: 2 s}";
const std::string kNoMigration = "  name: serverlessllm\n  replace_loads: false\n  migration: {enabled: false}\n"
                                 "  keep_alive: {name: fixed, timeout: 2 s}";
const std::string kShepherd = "  name: shepherd\n  keep_alive: {name: fixed, timeout: 2 s}";

TEST(Migration, LowersLatencyOfTheArrivingModelAndKeepsEveryTokenOfTheMigratedOne) {
  const Outcome alone = run_contention(kMigration, 0, "mig_alone", false);
  const Outcome with = run_contention(kMigration, 20.0, "mig_on");
  const Outcome without = run_contention(kNoMigration, 20.0, "mig_off");

  // A started on server 0 from the remote store in every run (server 1 was busy loading F).
  EXPECT_EQ(row_of(alone.rows, kA).at("server"), "0");
  EXPECT_EQ(row_of(alone.rows, kA).at("load_tier"), "remote");

  // B: ~11.2 s remote load on server 1 without migration; DRAM on server 0 with it.
  const Row& b_with = row_of(with.rows, kB);
  const Row& b_without = row_of(without.rows, kB);
  EXPECT_EQ(b_without.at("server"), "1");
  EXPECT_EQ(b_without.at("load_tier"), "remote");
  EXPECT_GT(num(b_without, "latency_s"), 10.7);
  EXPECT_EQ(b_with.at("server"), "0");
  EXPECT_EQ(b_with.at("load_tier"), "dram");
  // Destination load (~1.05 s) + recomputation (< 0.2 s) + B's DRAM load (~1.05 s) + B's inference.
  EXPECT_LT(num(b_with, "latency_s"), 3.0);
  EXPECT_LT(num(b_with, "latency_s"), num(b_without, "latency_s"));

  // A: migrated once to server 1, completed with all its tokens, nothing lost.
  const Row& a = row_of(with.rows, kA);
  EXPECT_EQ(a.at("outcome"), "completed");
  EXPECT_EQ(a.at("output_tokens"), std::to_string(kAOutput));
  EXPECT_EQ(a.at("server"), "1");
  EXPECT_EQ(a.at("migrations"), "1");
  EXPECT_EQ(a.at("preemptions"), "0");
  EXPECT_EQ(a.at("lost_tokens"), "0");
  EXPECT_GE(num(a, "migration_rounds"), 1);
  // Tokens sent: the prompt plus the output up to the handoff (somewhere in A's decode).
  EXPECT_GT(num(a, "migration_tokens"), kAInput + 1);
  EXPECT_LT(num(a, "migration_tokens"), kAInput + kAOutput);
  EXPECT_GT(num(a, "migration_pause_s"), 0.0);
  EXPECT_LT(num(a, "migration_pause_s"), 0.1);  // the final round recomputes at most ~20 tokens
  // Same GPU type at the destination: A's completion is delayed by at most the pause and one step
  // boundary, never advanced.
  const double a_alone = num(row_of(alone.rows, kA), "latency_s");
  EXPECT_GE(num(a, "latency_s"), a_alone - 1e-6);
  EXPECT_LT(num(a, "latency_s"), a_alone + 0.2);
  EXPECT_EQ(with.summary.migrations_started, 1u);
  EXPECT_EQ(with.summary.migrations_completed, 1u);
  EXPECT_EQ(with.summary.migrations_dropped, 0u);
  EXPECT_EQ(with.summary.migration_tokens, static_cast<std::uint64_t>(num(a, "migration_tokens")));
  EXPECT_EQ(with.summary.migration_pause.count, 1u);
  EXPECT_EQ(without.summary.migrations_started, 0u);
  // Conservation and nothing lost.
  EXPECT_EQ(with.summary.completed, 3u);
  EXPECT_EQ(with.summary.lost_tokens, 0u);
}

TEST(Migration, IsDroppedWhenTheInferenceFinishesFirst) {
  // B arrives 0.5 s before A would finish: the destination's load (~1.05 s) cannot complete in time.
  const Outcome alone = run_contention(kMigration, 0, "drop_alone", false);
  const double a_done = num(row_of(alone.rows, kA), "arrival_s") + num(row_of(alone.rows, kA), "latency_s");
  const Outcome o = run_contention(kMigration, a_done - 0.5, "drop");
  EXPECT_EQ(o.summary.migrations_started, 1u);
  EXPECT_EQ(o.summary.migrations_dropped, 1u);
  EXPECT_EQ(o.summary.migrations_completed, 0u);
  const Row& a = row_of(o.rows, kA);
  EXPECT_EQ(a.at("migrations"), "0");
  EXPECT_EQ(a.at("server"), "0");
  EXPECT_NEAR(num(a, "latency_s"), num(row_of(alone.rows, kA), "latency_s"), 1e-9);  // untouched
  // B gets server 0's GPU when A finishes: 0.5 s wait + DRAM load.
  const Row& b = row_of(o.rows, kB);
  EXPECT_EQ(b.at("server"), "0");
  EXPECT_EQ(b.at("load_tier"), "dram");
  EXPECT_LT(num(b, "latency_s"), 2.5);
  EXPECT_EQ(o.summary.completed, 3u);
}

TEST(Shepherd, PreemptsTheRunningInferenceWhichLosesItsProgressAndCompletesLater) {
  const Outcome alone = run_contention(kShepherd, 0, "shep_alone", false);
  const Outcome o = run_contention(kShepherd, 20.0, "shep");
  const Row& a = row_of(o.rows, kA);
  const Row& b = row_of(o.rows, kB);
  EXPECT_EQ(b.at("server"), "0");
  EXPECT_EQ(b.at("load_tier"), "dram");
  EXPECT_LT(num(b, "latency_s"), 2.0);
  EXPECT_EQ(a.at("outcome"), "completed");
  EXPECT_EQ(a.at("preemptions"), "1");
  EXPECT_EQ(a.at("server"), "1");  // restarted from its own DRAM copy on server 1
  // A decoded from ~11.4 s to 20 s at ~24 ms a step: some 300-400 tokens lost.
  EXPECT_GT(num(a, "lost_tokens"), 250);
  EXPECT_LT(num(a, "lost_tokens"), 450);
  EXPECT_EQ(o.summary.preemptions, 1u);
  EXPECT_EQ(o.summary.lost_tokens, static_cast<std::uint64_t>(num(a, "lost_tokens")));
  // Restarted at ~21 s with the full 1,500 tokens to produce: later than the uncontended run (~48 s).
  const double a_alone = num(row_of(alone.rows, kA), "latency_s");
  EXPECT_GT(num(a, "latency_s"), a_alone + 5.0);
  EXPECT_EQ(o.summary.completed, 3u);
  EXPECT_EQ(o.summary.migrations_started, 0u);
}

TEST(Migration, ParametersAreCheckedAndUnknownKeysRejected) {
  EXPECT_THROW(scenario_from_yaml(policy_cluster_yaml(2, 2, true, 1, "  name: serverlessllm\n  migration: {stop_token: 5}")),
               InputError);
  EXPECT_THROW(scenario_from_yaml(policy_cluster_yaml(2, 2, true, 1, "  name: serverlessllm\n  migration: {stop_tokens: -1}")),
               InputError);
  EXPECT_THROW(scenario_from_yaml(policy_cluster_yaml(2, 2, true, 1, "  name: shepherd\n  preemption: true")), InputError);
  EXPECT_NO_THROW(scenario_from_yaml(policy_cluster_yaml(
      2, 2, true, 1, "  name: serverlessllm\n  migration: {enabled: true, stop_tokens: 5, max_rounds: 3, a: 1 ms, b: 100 ms}")));
}

}  // namespace
}  // namespace sllm::testing
