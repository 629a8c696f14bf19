// Bad input that exited 1, or said too little (issue 19, item 9; issue 15): a non-numeric override
// index, a workload path longer than PATH_MAX, an io_uring queue depth the kernel refuses, a mapping with a
// duplicate key (configs, sweeps, profiles), a directory given as config; and (item 10) the by-tensor
// mode's checksums over the padding, and the foreign modes saying that they do not verify.
#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <string>

#include "ckpt_test_fixtures.h"
#include "cli_test_util.h"
#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/sim/profile.h"
#include "sllm/sim/sweep.h"

namespace sllm {
namespace {

using sllm::test::TempDir;
using sllm::testing::run_sllmsim;

const std::string kDefault = std::string(SLLM_SOURCE_DIR) + "/configs/default.yaml";

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The InputError's message, or "" when none was thrown.
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// ---- --set with a bad index ---------------------------------------------------------------------------

TEST(ConfigInput, NonNumericOverrideIndexIsAnInputErrorNamingTheOverride) {
  for (const char* bad : {"x", "", "1x", "-1", "99999999999999999999999"}) {
    ConfigNode root = ConfigNode::load_string("a: [1, 2]\n", "t.yaml");
    const std::string msg = input_error([&] { root.apply_override(std::string("a[") + bad + "].b=1"); });
    EXPECT_NE(msg.find("--set a[" + std::string(bad) + "].b"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("not a non-negative integer"), std::string::npos) << bad << ": " << msg;
  }
  TempDir tmp;
  const auto r = run_sllmsim("run -q -c " + kDefault + " -o " + (tmp / "out") + " --set 'models.deployments[x].count=1'");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("models.deployments[x].count"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("stol"), std::string::npos) << r.output;
}

TEST(ConfigInput, NumericOverrideIndexStillWorks) {
  ConfigNode root = ConfigNode::load_string("a: [{b: 1}, {b: 2}]\n", "t.yaml");
  root.apply_override("a[1].b=5");
  EXPECT_EQ(root.child("a").elements()[1].child("b").as_string(), "5");
}

// ---- a workload path longer than PATH_MAX -------------------------------------------------------------

TEST(ConfigInput, OverlongWorkloadPathIsAnInputError) {
  TempDir tmp;
  for (const std::string& path : {std::string(5000, 'a'), "dir/" + std::string(300, 'b') + "/trace.csv"}) {
    const auto r = run_sllmsim("run -q -c " + kDefault + " -o " + (tmp / "out") +
                               " --set workload.kind=trace --set workload.path=" + path);
    EXPECT_EQ(r.status, 2) << r.output.substr(0, 2000);
    EXPECT_NE(r.output.find("workload.path"), std::string::npos) << r.output.substr(0, 2000);
    EXPECT_EQ(r.output.find("filesystem error"), std::string::npos) << r.output.substr(0, 2000);
  }
  const auto r = run_sllmsim("run -q -c " + kDefault + " -o " + (tmp / "out") +
                             " --set workload.kind=trace --set workload.path=" + std::string(5000, 'a'));
  EXPECT_NE(r.output.find("PATH_MAX"), std::string::npos) << r.output.substr(0, 2000);
}

// ---- duplicate keys -----------------------------------------------------------------------------------

TEST(ConfigInput, DuplicateKeyIsRefusedAtItsSecondOccurrence) {
  const std::string msg = input_error([] {
    ConfigNode::load_string("a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n", "dup.yaml");
  });
  EXPECT_NE(msg.find("dup.yaml:5:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("duplicate key 'c'"), std::string::npos) << msg;
  // Inside a list and in flow style too; equal keys in different mappings are fine.
  EXPECT_NE(input_error([] { ConfigNode::load_string("l:\n  - {x: 1, x: 2}\n", "f.yaml"); }).find("f.yaml:2:12"),
            std::string::npos);
  EXPECT_EQ(input_error([] { ConfigNode::load_string("a: {x: 1}\nb: {x: 1}\nl: [{x: 1}, {x: 2}]\n", "ok.yaml"); }), "");
}

// Found by fuzz_sweep (tests/fuzz/regressions/fuzz_sweep): a key that is a mapping or list (YAML's
// complex keys, `{a: 1}: x`, `[a]: x`) reached yaml-cpp's string conversion when the keys were listed, and
// its YAML::BadConversion escaped (exit 1). Refused when the document is read, at the key.
TEST(ConfigInput, MappingOrListAsKeyIsRefusedAtTheKey) {
  const std::string map_key = input_error([] { ConfigNode::load_string("a: 1\nb:\n  {x: 1}: 2\n", "k.yaml"); });
  EXPECT_NE(map_key.find("k.yaml:3:3: a key must be a name, not a mapping"), std::string::npos) << map_key;
  const std::string list_key = input_error([] { ConfigNode::load_string("l:\n  - {[1, 2]: 3}\n", "k.yaml"); });
  EXPECT_NE(list_key.find("k.yaml:2:6: a key must be a name, not a list"), std::string::npos) << list_key;
  const std::string set_key = input_error([] {
    ConfigNode::load_string("a: 1\n", "k.yaml").apply_override("a={[x]: 1}");
  });
  EXPECT_NE(set_key.find("--set a"), std::string::npos) << set_key;
  EXPECT_NE(set_key.find("a key must be a name, not a list"), std::string::npos) << set_key;
  TempDir tmp;
  write(tmp / "sweep.yaml", "base: " + kDefault + "\ngrid:\n  {workload.rps: 1}: [1, 2]\n");
  const std::string sweep_msg = input_error([&] { SweepSpec::load(tmp / "sweep.yaml"); });
  EXPECT_NE(sweep_msg.find("sweep.yaml:3:3: a key must be a name, not a mapping"), std::string::npos) << sweep_msg;
}

TEST(ConfigInput, DuplicateKeyInConfigSweepAndProfileExitsTwo) {
  TempDir tmp;
  std::string config = sllm::test::read_whole_file(kDefault);
  config += "\nworkload: {kind: synthetic, requests: 10, rps: 1}\n";  // a second top-level 'workload'
  write(tmp / "dup.yaml", config);
  const auto r = run_sllmsim("run -q -c " + (tmp / "dup.yaml") + " -o " + (tmp / "out"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("duplicate key 'workload'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(tmp / "dup.yaml"), std::string::npos) << r.output;

  write(tmp / "sweep.yaml", "base: " + kDefault + "\ngrid:\n  workload.rps: [1, 2]\n  workload.rps: [3]\n");
  const std::string sweep_msg = input_error([&] { SweepSpec::load(tmp / "sweep.yaml"); });
  EXPECT_NE(sweep_msg.find("duplicate key 'workload.rps'"), std::string::npos) << sweep_msg;
  EXPECT_NE(sweep_msg.find("sweep.yaml:4:3"), std::string::npos) << sweep_msg;

  write(tmp / "profile.yaml", "name: p\nname: q\n");
  const std::string profile_msg = input_error([&] { read_profile(tmp / "profile.yaml"); });
  EXPECT_NE(profile_msg.find("duplicate key 'name'"), std::string::npos) << profile_msg;
  EXPECT_NE(profile_msg.find("profile.yaml:2:1"), std::string::npos) << profile_msg;
}

// ---- a directory as config ----------------------------------------------------------------------------

TEST(ConfigInput, DirectoryAsConfigSaysSo) {
  TempDir tmp;
  const auto r = run_sllmsim("run -q -c " + tmp.path() + " -o " + (tmp / "out"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("is a directory"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("missing required key"), std::string::npos) << r.output;
}

// ---- ckpt load ----------------------------------------------------------------------------------------

std::string convert_small(const TempDir& tmp) {
  sllm::test::write_fixture_safetensors(tmp / "a.safetensors", {sllm::test::fixture_tensor("w", "F32", 4, {40, 100}, 1),
                                                                  sllm::test::fixture_tensor("v", "F16", 2, {7}, 2)});
  const auto r = run_sllmsim("ckpt convert " + (tmp / "a.safetensors") + " -o " + (tmp / "ck") + " --checksum-chunk '4 KiB'");
  EXPECT_EQ(r.status, 0) << r.output;
  return tmp / "ck";
}

TEST(ConfigInput, QueueDepthOutsideTheRingLimitIsABadFlag) {
  TempDir tmp;
  const std::string dir = convert_small(tmp);
  for (const char* flags : {"--queue-depth 65536", "--queue-depth 0", "--queue-depth 8193 --threads 4"}) {
    const auto r = run_sllmsim("ckpt load " + dir + " --no-baselines " + flags);
    EXPECT_EQ(r.status, 2) << flags << "\n" << r.output;
    EXPECT_NE(r.output.find("--queue-depth"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("expected 1 to"), std::string::npos) << r.output;
  }
  const auto r = run_sllmsim("ckpt load " + dir + " --no-baselines --queue-depth 8192 --threads 4");
  EXPECT_EQ(r.status, 0) << r.output;
}

// The format makes the bytes between and after tensors zero, and the checksums cover them. by-tensor
// hashed zeros there instead of the bytes: damage in the padding passed it while other modes failed.
TEST(ConfigInput, ByTensorVerifiesThePaddingItDoesNotCopy) {
  TempDir tmp;
  const std::string dir = convert_small(tmp);
  const std::string part = dir + "/part-0.bin";
  const auto size = std::filesystem::file_size(part);
  sllm::test::flip_byte(part, size - 1);  // the last tensor holds 14 bytes: the file's last byte is padding
  for (const char* mode : {"sllm", "by-tensor"}) {
    const auto r = run_sllmsim("ckpt load " + dir + " --chunk '4 KiB' --no-baselines --mode " + mode);
    EXPECT_EQ(r.status, 2) << mode << "\n" << r.output;
    EXPECT_NE(r.output.find("checksum mismatch"), std::string::npos) << mode << "\n" << r.output;
  }
  // Undamaged, by-tensor loads.
  sllm::test::flip_byte(part, size - 1);
  const auto r = run_sllmsim("ckpt load " + dir + " --chunk '4 KiB' --no-baselines --mode by-tensor");
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST(ConfigInput, ForeignModesSayTheyDoNotVerify) {
  TempDir tmp;
  const std::string dir = convert_small(tmp);
  for (const char* mode : {"safetensors", "torch"}) {
    const auto r = run_sllmsim("ckpt load " + dir + " --no-baselines --mode " + mode);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("does not verify checksums"), std::string::npos) << mode << "\n" << r.output;
  }
  const auto r = run_sllmsim("ckpt load " + dir + " --no-baselines --mode by-tensor");
  EXPECT_EQ(r.output.find("does not verify"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sllm
