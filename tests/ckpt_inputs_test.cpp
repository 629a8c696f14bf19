// Inputs that are not what they claim to be (issue 19, items 2, 4, 5 and 9): a zero --chunk, a FIFO or
// device where a file belongs, files without end, an I/O error in the index, and one exit status for a
// damaged checkpoint in `ckpt verify` and `ckpt load`. Commands that hung or grew without bound before
// run under `timeout` and a memory limit, so a regression fails instead of hanging the suite.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <tuple>

#include "ckpt_test_fixtures.h"
#include "cli_test_util.h"
#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"
#include "sllm/models/checkpoint.h"
#include "sllm/sim/profile.h"

namespace {

using namespace sllm;
using namespace sllm::models;
using sllm::test::TempDir;

// Cut off a command that hangs (exit 124) instead of hanging the suite; `bounded` also caps its address
// space at 2 GB, far more than these commands need and far less than reading /dev/zero whole takes.
// AddressSanitizer reserves terabytes of shadow address space at start-up, so under it the cap cannot
// apply (its allocator's own limit, allocator_may_return_null=0, still stops runaway growth).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSpaceCappable = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSpaceCappable = false;
#else
constexpr bool kAddressSpaceCappable = true;
#endif
#else
constexpr bool kAddressSpaceCappable = true;
#endif
std::pair<int, std::string> run_cli(const std::string& args, bool bounded = false) {
  const bool cap = bounded && kAddressSpaceCappable;
  const auto r = sllm::testing::run_sllmsim(args, cap ? "ulimit -v 2000000; timeout 60" : "timeout 60");
  return {r.status, r.output};
}

std::string convert_small(const TempDir& tmp) {
  sllm::test::write_fixture_safetensors(tmp / "a.safetensors", {sllm::test::fixture_tensor("w", "F32", 4, {40, 100}, 1),
                                                                  sllm::test::fixture_tensor("v", "F16", 2, {7}, 2)});
  auto [rc, out] = run_cli("ckpt convert " + (tmp / "a.safetensors") + " -o " + (tmp / "ck") + " --checksum-chunk '4 KiB'");
  EXPECT_EQ(rc, 0) << out;
  return tmp / "ck";
}

void make_fifo(const std::string& path) {
  std::filesystem::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << path << ": " << std::strerror(errno);
}

// ---- item 2 -------------------------------------------------------------------------------------------

TEST(CkptInputs, ZeroChunkIsABadFlagNotADivisionByZero) {
  TempDir tmp;
  const std::string dir = convert_small(tmp);
  for (const char* mode : {"sllm", "by-tensor"}) {
    auto [rc, out] = run_cli("ckpt load " + dir + " --mode " + mode + " --chunk '0 B' --no-baselines");
    EXPECT_EQ(rc, 2) << mode << "\n" << out;
    EXPECT_NE(out.find("--chunk"), std::string::npos) << out;
  }
  auto [rc, out] = run_cli("ckpt load " + dir + " --chunk '1000 B' --no-baselines");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--chunk"), std::string::npos) << out;
}

// ---- item 4 -------------------------------------------------------------------------------------------

TEST(CkptInputs, FifoPartitionIsRefusedAtOpenInsteadOfHanging) {
  TempDir tmp;
  const std::string dir = convert_small(tmp);
  make_fifo(dir + "/part-0.bin");
  try {
    open_checkpoint(dir);
    ADD_FAILURE() << "opened a checkpoint whose partition is a FIFO";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("part-0.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  for (const std::string cmd : {"ckpt verify ", "ckpt load --no-baselines --chunk '4 KiB' ", "ckpt load --no-baselines --mode torch ",
                                "ckpt load --no-baselines --mode safetensors "}) {
    auto [rc, out] = run_cli(cmd + dir);
    EXPECT_EQ(rc, 2) << cmd << "\n" << out;  // 124 when it hung until the timeout
    EXPECT_NE(out.find("not a regular file"), std::string::npos) << cmd << "\n" << out;
  }
}

TEST(CkptInputs, FifoOrDeviceIndexIsRefusedInsteadOfHanging) {
  TempDir tmp;
  const std::string dir = convert_small(tmp);
  make_fifo(dir + "/index.json");
  auto [rc, out] = run_cli("ckpt verify " + dir);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("not a regular file"), std::string::npos) << out;
  std::filesystem::remove(dir + "/index.json");
  std::filesystem::create_symlink("/dev/zero", dir + "/index.json");
  std::tie(rc, out) = run_cli("ckpt inspect " + dir, /*bounded=*/true);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("character device"), std::string::npos) << out;
}

TEST(CkptInputs, FifoSafetensorsSourceIsRefused) {
  TempDir tmp;
  make_fifo(tmp / "a.safetensors");
  auto [rc, out] = run_cli("ckpt convert " + (tmp / "a.safetensors") + " -o " + (tmp / "ck"));
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("not a regular file"), std::string::npos) << out;
}

// ---- item 5 -------------------------------------------------------------------------------------------

void expect_input_error(const std::function<void()>& f, const std::string& a, const std::string& b) {
  try {
    f();
    ADD_FAILURE() << "no error (expected one naming " << a << " and " << b << ")";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(a), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(b), std::string::npos) << e.what();
  }
}

TEST(CappedReader, ReadsRegularFilesWholeAndRefusesTheRest) {
  TempDir tmp;
  sllm::test::write_whole_file(tmp / "ten", "0123456789");
  EXPECT_EQ(read_file_limited(tmp / "ten", 10, "test file"), "0123456789");  // exactly at the cap
  EXPECT_EQ(read_file_limited(tmp / "ten", 100, "test file"), "0123456789");
  expect_input_error([&] { read_file_limited(tmp / "ten", 9, "test file"); }, tmp / "ten", "larger than the limit of 9 bytes");
  expect_input_error([&] { read_file_limited("/dev/zero", 1 << 20, "test file"); }, "/dev/zero", "not a regular file");
  expect_input_error([&] { read_file_limited(tmp.path(), 1 << 20, "test file"); }, tmp.path(), "a directory");
  expect_input_error([&] { read_file_limited(tmp / "absent", 1 << 20, "test file"); }, tmp / "absent", "No such file");
  make_fifo(tmp / "fifo");  // no writer: an open that blocks would hang here
  expect_input_error([&] { read_file_limited(tmp / "fifo", 1 << 20, "test file"); }, tmp / "fifo", "a FIFO");
  // A sparse file one byte over the metadata cap is refused without being read.
  std::filesystem::resize_file(tmp / "ten", kMaxMetadataFileBytes + 1);
  expect_input_error([&] { read_file_limited(tmp / "ten", kMaxMetadataFileBytes, "test file"); }, tmp / "ten",
                     "larger than the limit of 67108864 bytes");
}

TEST(CappedReader, ProcfsFilesThatReportNoSizeAreStillCapped) {
  // /proc/self/maps reports size 0 but has content: the cap must hold while reading, not only by stat.
  const std::string maps = read_file_limited("/proc/self/maps", kMaxMetadataFileBytes, "maps");
  EXPECT_FALSE(maps.empty());
  expect_input_error([&] { read_file_limited("/proc/self/maps", 16, "maps"); }, "/proc/self/maps", "larger than the limit of 16 bytes");
}

TEST(CappedReader, ConfigsScenariosSweepsProfilesAndIndexesAtDevZeroFailFast) {
  expect_input_error([] { ConfigNode::load_file("/dev/zero"); }, "/dev/zero", "not a regular file");
  expect_input_error([] { read_profile("/dev/zero"); }, "/dev/zero", "not a regular file");
  TempDir tmp;
  std::filesystem::create_directories(tmp / "ck");
  std::filesystem::create_symlink("/dev/zero", tmp / "ck/index.json");
  expect_input_error([&] { open_checkpoint(tmp / "ck"); }, "index.json", "not a regular file");
  // Through the CLI, under a memory limit: before, each of these grew until it ran out of memory.
  for (const std::string& cmd : {"run -c /dev/zero -o " + (tmp / "out"), "sweep -c /dev/zero -o " + (tmp / "sweep"),
                                "ckpt inspect " + (tmp / "ck")}) {
    auto [rc, out] = run_cli(cmd, /*bounded=*/true);
    EXPECT_EQ(rc, 2) << cmd << "\n" << out;
    EXPECT_NE(out.find("not a regular file"), std::string::npos) << cmd << "\n" << out;
  }
}

// ---- item 9 -------------------------------------------------------------------------------------------

TEST(CkptInputs, IoErrorReadingTheIndexIsReportedAsOneNotAsMalformedJson) {
  // Reading /proc/self/mem at offset 0 fails with EIO (page 0 is never mapped): a real I/O error.
  TempDir tmp;
  std::filesystem::create_directories(tmp / "ck");
  std::filesystem::create_symlink("/proc/self/mem", tmp / "ck/index.json");
  try {
    open_checkpoint(tmp / "ck");
    ADD_FAILURE() << "opened";
  } catch (const InputError& e) {
    ADD_FAILURE() << "an I/O error reported as bad input: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::strerror(EIO)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("index.json"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("malformed JSON"), std::string::npos) << e.what();
  }
  auto [rc, out] = run_cli("ckpt verify " + (tmp / "ck"));
  EXPECT_EQ(rc, 1) << out;  // the run failed; the input was not shown to be bad
  EXPECT_NE(out.find(std::strerror(EIO)), std::string::npos) << out;
}

TEST(CkptInputs, VerifyAndLoadGiveOneExitStatusForADamagedCheckpoint) {
  TempDir tmp;
  const std::string dir = convert_small(tmp);
  sllm::test::flip_byte(dir + "/part-0.bin", 100);
  auto [verify_rc, verify_out] = run_cli("ckpt verify " + dir);
  EXPECT_NE(verify_out.find("checksum mismatch"), std::string::npos) << verify_out;
  auto [load_rc, load_out] = run_cli("ckpt load " + dir + " --chunk '4 KiB' --no-baselines");
  EXPECT_NE(load_out.find("checksum mismatch"), std::string::npos) << load_out;
  EXPECT_EQ(verify_rc, 2) << verify_out;
  EXPECT_EQ(load_rc, 2) << load_out;
  // A missing partition is damage too.
  std::filesystem::remove(dir + "/part-0.bin");
  std::tie(verify_rc, verify_out) = run_cli("ckpt verify " + dir);
  EXPECT_EQ(verify_rc, 2) << verify_out;
  EXPECT_NE(verify_out.find("part-0.bin"), std::string::npos) << verify_out;
}

}  // namespace
