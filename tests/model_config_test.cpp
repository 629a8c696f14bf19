// Models described by config (docs/config.md, "Models"): Hugging Face config.json files of real models
// (tests/support/hf/, the published values) must give the published parameter counts, and a deployment
// can use such a model, or one described field by field, with its checkpoint bytes and costs derived.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_test_util.h"
#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"
#include "sllm/core/model_arch.h"
#include "sllm/sim/scenario.h"

namespace {

using namespace sllm;

std::string fixture(const std::string& name) { return std::string(SLLM_SOURCE_DIR) + "/tests/support/hf/" + name + ".json"; }

std::string slurp(const std::string& path) { return read_file_limited(path, kMaxHfConfigBytes, "fixture"); }

class ScratchDir {
 public:
  ScratchDir() : path_(std::filesystem::temp_directory_path() / ("sllm-model-config-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Published parameter counts: each model's Hugging Face page (safetensors metadata of the released
// weights: 6.74B, 8.03B, 7.24B, 7.62B, 0.494B, 8.19B, 6.66B, 6.92B). The Falcon-7B and OPT counts
// include the tied lm_head once, as the stored weights do.
TEST(HfConfig, PublishedParameterCounts) {
  const std::pair<const char*, std::uint64_t> published[] = {
      {"llama-2-7b", 6'738'415'616ull},   {"llama-3-8b", 8'030'261'248ull}, {"mistral-7b-v0.1", 7'241'732'096ull},
      {"qwen2-7b", 7'615'616'512ull},     {"qwen2-0.5b", 494'032'768ull},   {"qwen3-8b", 8'190'735'360ull},
      {"opt-6.7b", 6'658'473'984ull},     {"falcon-7b", 6'921'720'704ull}};
  for (const auto& [name, count] : published) {
    const ModelArch a = import_hf_config(fixture(name), name);
    EXPECT_EQ(a.parameter_count(), count) << name;
    EXPECT_EQ(a.checkpoint_bytes(), count * dtype_size(a.dtype)) << name;
  }
}

TEST(HfConfig, FieldsMapToTheArchitecture) {
  const ModelArch q = import_hf_config(fixture("qwen2-7b"), "q");
  EXPECT_EQ(q.family, ModelFamily::kLlama);
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_FALSE(q.out_bias);
  EXPECT_FALSE(q.tied_embeddings);
  EXPECT_EQ(q.dtype, DType::kBF16);
  EXPECT_EQ(q.head_dim, 128);
  EXPECT_EQ(q.kv_heads, 4);
  EXPECT_EQ(q.max_positions, 131072);
  EXPECT_DOUBLE_EQ(q.rope_theta, 1e6);
  // K and V of 28 layers x 4 heads x 128, 2 bytes each.
  EXPECT_EQ(q.kv_bytes_per_token(), 2u * 28 * 4 * 128 * 2);
  // Untied: every weight but the token embedding is a matmul weight (norms and biases included, 2 FLOPs).
  EXPECT_DOUBLE_EQ(q.flops_per_token(), 2.0 * (7'615'616'512.0 - 152064.0 * 3584));
  // Tied: the embedding is also the lm_head, a matmul: every stored weight counts.
  const ModelArch tied = import_hf_config(fixture("qwen2-0.5b"), "t");
  EXPECT_TRUE(tied.tied_embeddings);
  EXPECT_DOUBLE_EQ(tied.flops_per_token(), 2.0 * 494'032'768.0);
  const ModelArch qwen3 = import_hf_config(fixture("qwen3-8b"), "q3");
  EXPECT_EQ(qwen3.family, ModelFamily::kQwen3);
  EXPECT_TRUE(qwen3.qk_norm);
  const ModelArch falcon = import_hf_config(fixture("falcon-7b"), "f");
  EXPECT_EQ(falcon.kv_heads, 1);  // multi_query
  EXPECT_EQ(falcon.norms_per_layer, 1);
  EXPECT_EQ(falcon.ffn, 4 * 4544);
  EXPECT_EQ(falcon.max_positions, 2048);  // FalconConfig's default: the file has none
}

// The catalog's entries and the same models' config.json files describe one architecture: every derived
// number agrees (the two paths are written separately: catalog fields with family defaults, HF fields).
TEST(HfConfig, CatalogModelsImportToTheSameNumbers) {
  for (const char* name : {"llama-2-7b", "opt-6.7b", "falcon-7b", "falcon-40b"}) {
    const ModelArch hf = import_hf_config(fixture(name), name);
    const ModelArch& cat = ModelCatalog::builtin().get(name, "test");
    EXPECT_EQ(hf.parameter_count(), cat.parameter_count()) << name;
    EXPECT_EQ(hf.checkpoint_bytes(), cat.checkpoint_bytes()) << name;
    EXPECT_EQ(hf.kv_bytes_per_token(), cat.kv_bytes_per_token()) << name;
    EXPECT_DOUBLE_EQ(hf.flops_per_token(), cat.flops_per_token()) << name;
    EXPECT_DOUBLE_EQ(hf.attention_flops_per_context_token(), cat.attention_flops_per_context_token()) << name;
  }
}

TEST(HfConfig, DtypeOverride) {
  const DType f32 = DType::kF32;
  const ModelArch a = import_hf_config(fixture("mistral-7b-v0.1"), "m", &f32);
  EXPECT_EQ(a.checkpoint_bytes(), 7'241'732'096ull * 4);
}

std::string error_of(const std::string& text, const std::string& source = "cfg.json") {
  try {
    parse_hf_config(text, source, "x");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(HfConfig, ErrorsNameTheFileAndTheField) {
  const std::string good = slurp(fixture("llama-2-7b"));
  ASSERT_EQ(error_of(good), "");
  std::string missing = good;
  missing.replace(missing.find("\"num_hidden_layers\": 32,"), 24, "");
  const std::string m = error_of(missing);
  EXPECT_NE(m.find("cfg.json"), std::string::npos) << m;
  EXPECT_NE(m.find("num_hidden_layers"), std::string::npos) << m;

  std::string zero = good;
  zero.replace(zero.find("\"hidden_size\": 4096"), 19, "\"hidden_size\": 0");
  EXPECT_NE(error_of(zero).find("hidden_size"), std::string::npos) << error_of(zero);

  std::string unknown = good;
  unknown.replace(unknown.find("\"model_type\": \"llama\""), 21, "\"model_type\": \"gpt2\"");
  EXPECT_NE(error_of(unknown).find("model_type"), std::string::npos) << error_of(unknown);

  std::string bad_kv = good;
  bad_kv.replace(bad_kv.find("\"num_key_value_heads\": 32"), 25, "\"num_key_value_heads\": 5");
  EXPECT_NE(error_of(bad_kv).find("num_key_value_heads"), std::string::npos) << error_of(bad_kv);

  // JSON syntax: located at file:line:column.
  const std::string syntax = error_of("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": [1,\n}");
  EXPECT_NE(syntax.find("cfg.json:"), std::string::npos) << syntax;
  // Duplicate keys are refused, not resolved silently.
  EXPECT_NE(error_of("{\"model_type\": \"llama\", \"model_type\": \"opt\"}").find("model_type"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]"), "");

  std::string no_dtype = good;
  no_dtype.replace(no_dtype.find("\"torch_dtype\": \"float16\","), 25, "");
  EXPECT_NE(error_of(no_dtype).find("torch_dtype"), std::string::npos) << error_of(no_dtype);

  // OPT-350m's projected embeddings are another layout: refused, not miscounted.
  std::string opt = slurp(fixture("opt-6.7b"));
  opt.replace(opt.find("\"word_embed_proj_dim\": 4096"), 27, "\"word_embed_proj_dim\": 512");
  EXPECT_NE(error_of(opt).find("word_embed_proj_dim"), std::string::npos) << error_of(opt);
}

TEST(HfConfig, FilesAreBoundedAndMustBeRegular) {
  ScratchDir dir;
  const std::string big = dir.write("big.json", "{\"model_type\": \"llama\", \"pad\": \"" + std::string(kMaxHfConfigBytes, 'x') + "\"}");
  try {
    import_hf_config(big, "x");
    ADD_FAILURE() << "an oversized config.json was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(big), std::string::npos) << e.what();
  }
  const std::string fifo = dir / "fifo.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW(import_hf_config(fifo, "x"), InputError);  // refused at once, never blocks
  EXPECT_THROW(import_hf_config(dir / "missing.json", "x"), InputError);
}

constexpr const char* kCluster = R"(cluster:
  remote_store: {bandwidth: 10 Gbps}
  servers:
    - name: a40
      count: 2
      gpus: {type: A40, count: 4}
      dram: {capacity: 512 GB, chunk_size: 32 MiB}
      ssd: {capacity: 2 TB, read_bandwidth: 6 GB/s}
      nic: 10 Gbps
      pcie: 25 GB/s
workload: {kind: synthetic, requests: 10, rps: 1.0, cv: 8, popularity: uniform, lengths: gsm8k}
policy:
  name: serverlessllm
  keep_alive: {name: fixed, timeout: 30 s}
  eviction: {dram: lru, ssd: lru}
)";

Scenario scenario(const ScratchDir& dir, const std::string& deployments) {
  const std::string path = dir.write("scenario.yaml", std::string(kCluster) + "models:\n  deployments:\n" + deployments);
  return Scenario::load(path);
}

TEST(DescribedModels, DeploymentFromHfConfigAndFromArchFields) {
  ScratchDir dir;
  std::filesystem::copy_file(fixture("qwen2-7b"), dir / "qwen2-7b.json");
  const Scenario s = scenario(dir,
                              "    - {model: my-qwen2, hf_config: qwen2-7b.json, count: 2}\n"
                              "    - {model: my-qwen2-f32, hf_config: qwen2-7b.json, dtype: float32}\n"
                              "    - model: small-llama\n"
                              "      arch: {family: llama, layers: 2, hidden: 64, heads: 4, kv_heads: 2, ffn: 176, vocab: 512,\n"
                              "             max_positions: 512, qkv_bias: true, tied_embeddings: true}\n"
                              "    - {model: opt-6.7b}\n");
  ASSERT_EQ(s.deployments.size(), 4u);
  EXPECT_EQ(s.deployments[0].arch->parameter_count(), 7'615'616'512ull);
  EXPECT_EQ(s.deployments[1].arch->checkpoint_bytes(), 7'615'616'512ull * 4);
  // tiny-llama's count (catalog: 158016) with q, k, v biases (64 + 2 x 32 in each of 2 layers) and one
  // 512 x 64 table less (tied).
  EXPECT_EQ(s.deployments[2].arch->parameter_count(), 158016u + 2 * (64 + 2 * 32) - 512 * 64);
  EXPECT_EQ(s.deployments[3].arch, ModelCatalog::builtin().find("opt-6.7b"));
  ASSERT_EQ(s.models.size(), 2u + 1 + 1 + 1);
  EXPECT_EQ(s.models[0].checkpoint_bytes, 7'615'616'512ull * 2);
  EXPECT_EQ(s.models[0].name, "my-qwen2/0");
}

std::string scenario_error(const ScratchDir& dir, const std::string& deployments) {
  try {
    scenario(dir, deployments);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(DescribedModels, ErrorsNameTheDeploymentField) {
  ScratchDir dir;
  std::filesystem::copy_file(fixture("qwen2-7b"), dir / "qwen2-7b.json");
  std::string e = scenario_error(dir, "    - {model: opt-6.7b, hf_config: qwen2-7b.json}\n");
  EXPECT_NE(e.find("deployments[0].model"), std::string::npos) << e;
  e = scenario_error(dir, "    - {model: q, hf_config: qwen2-7b.json, arch: {family: llama}}\n");
  EXPECT_NE(e.find("either arch or hf_config"), std::string::npos) << e;
  e = scenario_error(dir, "    - {model: q, hf_config: nowhere.json}\n");
  EXPECT_NE(e.find("deployments[0].hf_config"), std::string::npos) << e;
  EXPECT_NE(e.find("nowhere.json"), std::string::npos) << e;
  e = scenario_error(dir, "    - {model: q, arch: {family: llama, layers: 2, hidden: 64, heads: 4, ffn: 8, vocab: 8, max_positions: 8, mlp: fancy}}\n");
  EXPECT_NE(e.find("deployments[0].arch.mlp"), std::string::npos) << e;
  e = scenario_error(dir, "    - {model: opt-6.7b, dtype: float32}\n");  // a catalog model takes no dtype
  EXPECT_NE(e.find("dtype"), std::string::npos) << e;
}

TEST(DescribedModels, CliPrintsTheDerivedNumbers) {
  auto r = sllm::testing::run_sllmsim("models --hf-config " + fixture("mistral-7b-v0.1"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("7241732096"), std::string::npos) << r.output;
  r = sllm::testing::run_sllmsim("models");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("6738415616"), std::string::npos) << r.output;  // llama-2-7b
  r = sllm::testing::run_sllmsim("models --hf-config /nonexistent/config.json");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/config.json"), std::string::npos) << r.output;
}

}  // namespace
