// The catalog's closed-form parameter counts must agree with the tensor-by-tensor layout (two
// independent derivations) and with the published sizes of the real models.
#include <gtest/gtest.h>

#include "sllm/models/tensor_layout.h"
#include "sllm/core/error.h"
#include "sllm/core/model_arch.h"

namespace sllm {
namespace {

std::uint64_t layout_parameters(const ModelArch& arch) {
  std::uint64_t n = 0;
  for (const auto& t : models::tensor_layout(arch)) {
    if (t.alias_of.empty()) n += t.elements();
  }
  return n;
}

TEST(ModelCatalog, ClosedFormMatchesTensorLayout) {
  const ModelCatalog& catalog = ModelCatalog::builtin();
  ASSERT_GE(catalog.names().size(), 14u);
  for (const std::string& name : catalog.names()) {
    const ModelArch& arch = *catalog.find(name);
    EXPECT_EQ(arch.parameter_count(), layout_parameters(arch)) << name;
  }
}

TEST(ModelCatalog, PublishedSizes) {
  // Published parameter counts (billions), to within 2%.
  const std::pair<const char*, double> published[] = {
      {"opt-2.7b", 2.65},   {"opt-6.7b", 6.66},     {"opt-13b", 12.85},    {"opt-30b", 29.97},
      {"opt-66b", 65.7},    {"llama-2-7b", 6.74},   {"llama-2-13b", 13.02}, {"llama-2-70b", 68.98},
      {"llama-3.1-8b", 8.03}, {"qwen3-32b", 32.8},  {"falcon-7b", 6.92},   {"falcon-40b", 41.8}};
  for (const auto& [name, billions] : published) {
    const ModelArch* arch = ModelCatalog::builtin().find(name);
    ASSERT_NE(arch, nullptr) << name;
    EXPECT_NEAR(static_cast<double>(arch->parameter_count()) / 1e9, billions, billions * 0.02) << name;
  }
  // fp16 OPT-6.7B is the paper's ~13 GB checkpoint.
  EXPECT_NEAR(static_cast<double>(ModelCatalog::builtin().find("OPT-6.7B")->checkpoint_bytes()) / 1e9, 13.3, 0.1);
}

TEST(ModelCatalog, KvBytesPerToken) {
  // LLaMA-2-70B uses GQA with 8 KV heads of 128: 2 * 80 * 8 * 128 * 2 bytes.
  EXPECT_EQ(ModelCatalog::builtin().find("llama-2-70b")->kv_bytes_per_token(), 2u * 80 * 8 * 128 * 2);
}

TEST(ModelCatalog, UnknownModelNamesTheCatalog) {
  try {
    ModelCatalog::builtin().get("gpt-5", "cfg.yaml:3:7: models[0].name");
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.yaml:3:7"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("opt-6.7b"), std::string::npos);
  }
}

}  // namespace
}  // namespace sllm
