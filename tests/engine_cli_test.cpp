// sllmsim engine generate|migrate end to end on tiny models: random weights and a synthesised
// checkpoint read through the loader; bad flags exit 2; CUDA without a GPU fails with a clear message.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

#include "cli_test_util.h"

namespace {

using sllm::testing::CliResult;
using sllm::testing::run_sllmsim;

TEST(EngineCli, MigrateWithRandomWeightsIsIdentical) {
  const CliResult r =
      run_sllmsim("engine migrate --model tiny-llama --prompt-len 50 --new-tokens 300 --at-token 3 --stop-tokens 4");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("identical: yes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rounds: "), std::string::npos) << r.output;
}

TEST(EngineCli, GenerateAndMigrateFromACheckpoint) {
  const auto dir = std::filesystem::temp_directory_path() / ("sllm_engine_cli_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_EQ(run_sllmsim("ckpt synth --model tiny-opt -o " + dir.string()).status, 0);
  const CliResult g = run_sllmsim("engine generate --ckpt " + dir.string() + " --prompt-len 16 --new-tokens 8 --batch 2");
  EXPECT_EQ(g.status, 0) << g.output;
  EXPECT_NE(g.output.find("prefill:"), std::string::npos) << g.output;
  EXPECT_NE(g.output.find("decode step: mean"), std::string::npos) << g.output;
  const CliResult m = run_sllmsim("engine migrate --ckpt " + dir.string() + " --prompt-len 16 --new-tokens 300 --at-token 3");
  EXPECT_EQ(m.status, 0) << m.output;
  EXPECT_NE(m.output.find("identical: yes"), std::string::npos) << m.output;
  std::filesystem::remove_all(dir);
}

TEST(EngineCli, ModelTooLargeForHostMemoryIsRefusedBeforeAllocating) {
  // Llama-2-70B's fp32 weights (about 256 GiB) exceed any test machine's memory: exit 2 with the numbers,
  // not an OOM kill.
  const auto r = run_sllmsim("engine generate --model llama-2-70b --device cpu --prompt-len 4 --new-tokens 1");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("MemAvailable"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("llama-2-70b"), std::string::npos) << r.output;
}

TEST(EngineCli, BadInputExitsTwoAndMissingGpuIsClear) {
  EXPECT_EQ(run_sllmsim("engine migrate --model tiny-opt --new-tokens 8 --at-token 8").status, 2);
  EXPECT_EQ(run_sllmsim("engine generate --model no-such-model").status, 2);
  EXPECT_EQ(run_sllmsim("engine frobnicate").status, 2);
  const CliResult gpu = run_sllmsim("engine generate --model tiny-opt --device cuda:0 --new-tokens 2");
  if (gpu.status != 0) {
    EXPECT_EQ(gpu.status, 1);
    EXPECT_TRUE(gpu.output.find("CUDA") != std::string::npos || gpu.output.find("cuda") != std::string::npos) << gpu.output;
  }
}

}  // namespace
