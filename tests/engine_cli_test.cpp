// sllmsim engine generate|migrate end to end on tiny models: random weights and a synthesised
// checkpoint read through the loader; bad flags exit 2; CUDA without a GPU fails with a clear message.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct CliResult {
  int status = -1;
  std::string out;
};

CliResult run(const std::string& args) {
  CliResult r;
  FILE* p = popen((std::string(SLLM_BINARY) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(EngineCli, MigrateWithRandomWeightsIsIdentical) {
  const CliResult r = run("engine migrate --model tiny-llama --prompt-len 50 --new-tokens 300 --at-token 3 --stop-tokens 4");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("identical: yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rounds: "), std::string::npos) << r.out;
}

TEST(EngineCli, GenerateAndMigrateFromACheckpoint) {
  const auto dir = std::filesystem::temp_directory_path() / ("sllm_engine_cli_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_EQ(run("ckpt synth --model tiny-opt -o " + dir.string()).status, 0);
  const CliResult g = run("engine generate --ckpt " + dir.string() + " --prompt-len 16 --new-tokens 8 --batch 2");
  EXPECT_EQ(g.status, 0) << g.out;
  EXPECT_NE(g.out.find("prefill:"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("decode step: mean"), std::string::npos) << g.out;
  const CliResult m = run("engine migrate --ckpt " + dir.string() + " --prompt-len 16 --new-tokens 300 --at-token 3");
  EXPECT_EQ(m.status, 0) << m.out;
  EXPECT_NE(m.out.find("identical: yes"), std::string::npos) << m.out;
  std::filesystem::remove_all(dir);
}

TEST(EngineCli, BadInputExitsTwoAndMissingGpuIsClear) {
  EXPECT_EQ(run("engine migrate --model tiny-opt --new-tokens 8 --at-token 8").status, 2);
  EXPECT_EQ(run("engine generate --model no-such-model").status, 2);
  EXPECT_EQ(run("engine frobnicate").status, 2);
  const CliResult gpu = run("engine generate --model tiny-opt --device cuda:0 --new-tokens 2");
  if (gpu.status != 0) {
    EXPECT_EQ(gpu.status, 1);
    EXPECT_TRUE(gpu.out.find("CUDA") != std::string::npos || gpu.out.find("cuda") != std::string::npos) << gpu.out;
  }
}

}  // namespace
