// Runs a scenario with the example's own policy through the installed sllmsim package and checks the
// run: the policy was registered beside the built-in ones and asked for every placement, every request
// is accounted for, and the same scenario and seed give the same run again.
//   custom_policy SCENARIO.yaml [OUTPUT_DIR]
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "most_free_gpus.h"
#include "sllm/core/error.h"
#include "sllm/sim/policy.h"
#include "sllm/sim/scenario.h"
#include "sllm/sim/simulator.h"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::cout << (ok ? "ok    " : "FAIL  ") << what << "\n";
  if (!ok) ++failures;
}

bool registered(const std::string& name) { return sllm::SchedulingRegistry::instance().contains(name); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: custom_policy SCENARIO.yaml [OUTPUT_DIR]\n";
    return 2;
  }
  try {
    // Registrations from the program's own file and from the package's whole-linked archives.
    expect(registered("most-free-gpus"), "the example's policy is registered");
    expect(registered("serverlessllm"), "the built-in policies are registered (sllmsim::sllmsim links them whole)");

    const sllm::Scenario scenario = sllm::Scenario::load(argv[1]);
    const std::uint64_t asked_before = most_free_gpus_placements();
    sllm::RunOptions options;
    if (argc == 3) options.output_dir = argv[2];
    const sllm::RunSummary summary = sllm::Simulator(scenario).run(options);
    summary.print_table(std::cout);

    expect(summary.policy == "most-free-gpus", "the run names the example's policy");
    expect(most_free_gpus_placements() - asked_before >= summary.loads && summary.loads > 0,
           "the policy was asked at least once per load (" + std::to_string(summary.loads) + " loads)");
    expect(summary.arrived == scenario.expected_requests, "every request of the workload arrived");
    expect(summary.arrived == summary.completed + summary.timed_out + summary.rejected + summary.running,
           "requests are conserved (arrived = completed + timed out + rejected + running)");
    expect(summary.completed > 0, "requests completed");

    const sllm::RunSummary again = sllm::Simulator(scenario).run();
    expect(again.fingerprint == summary.fingerprint, "the same scenario and seed give the same event order");
  } catch (const sllm::InputError& e) {
    std::cerr << "custom_policy: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "custom_policy: " << e.what() << "\n";
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
