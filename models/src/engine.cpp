// Backend-independent parts of the engine: creation, argument checks, greedy generation, random
// weights and prompts, element conversions.
#include "sllm/models/engine.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include "engine_internal.h"
#include "sllm/models/device_backend.h"
#include "sllm/models/tensor_layout.h"
#include "sllm/core/error.h"
#include "sllm/core/random.h"

namespace sllm::models {

Engine::Engine(const ModelArch& arch, Device device, const EngineConfig& config)
    : arch_(arch), device_(device), config_(config) {
  config_.max_context = detail::effective_max_context(arch, config);
}

std::unique_ptr<Engine> Engine::create(const ModelArch& arch, const TensorSource& weights, Device device,
                                       const EngineConfig& config) {
  detail::check_supported(arch);
  if (config.max_sequences < 1) throw InputError("engine", "max_sequences must be at least 1");
  return device_backend(device).create_engine(arch, weights, device, config);
}

std::vector<TokenId> generate_greedy(Engine& engine, int slot, std::span<const TokenId> prompt, int new_tokens) {
  std::vector<TokenId> out;
  if (new_tokens <= 0) return out;
  engine.reset(slot);
  out.reserve(static_cast<std::size_t>(new_tokens));
  SequenceChunk chunk{slot, prompt};
  out.push_back(engine.forward({&chunk, 1}).front());
  while (static_cast<int>(out.size()) < new_tokens) {
    chunk.tokens = {&out.back(), 1};
    out.push_back(engine.forward({&chunk, 1}).front());
  }
  return out;
}

namespace {

// One splitmix64 step from state z (z is a copy: a pure function of its argument).
std::uint64_t mix64(std::uint64_t z) { return splitmix64(z); }

// Uniform in (-1, 1), a pure function of (key, index) so that any thread may fill any element.
float uniform_pm1(std::uint64_t key, std::uint64_t index) {
  const std::uint64_t bits = mix64(key + index * 0xd1342543de82ef95ULL) >> 40;  // 24 bits
  return static_cast<float>((static_cast<double>(bits) + 0.5) * (2.0 / 16777216.0) - 1.0);
}

}  // namespace

std::vector<TokenId> random_tokens(std::uint64_t seed, int count, int vocab) {
  std::vector<TokenId> out(static_cast<std::size_t>(std::max(count, 0)));
  const std::uint64_t key = mix64(seed ^ 0x70726f6d7074ULL);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<TokenId>(mix64(key + i) % static_cast<std::uint64_t>(vocab));
  }
  return out;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000U) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fU;
  const std::uint32_t mant = h & 0x3ffU;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000U | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

std::uint16_t float_to_half(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000U);
  const std::uint32_t abs = x & 0x7fffffffU;
  if (abs > 0x7f800000U) return static_cast<std::uint16_t>(sign | 0x7e00U);  // NaN
  if (abs >= 0x477ff000U) return static_cast<std::uint16_t>(sign | 0x7c00U);  // rounds to >= 65536: inf
  if (abs < 0x38800000U) {  // below the smallest normal half: subnormal, rounded to nearest even
    const float scaled = std::bit_cast<float>(abs) * 16777216.0f;  // units of 2^-24, exact
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(scaled)));
  }
  const std::uint32_t rounded = abs + 0xfffU + ((abs >> 13) & 1U);
  return static_cast<std::uint16_t>(sign | ((rounded - 0x38000000U) >> 13));
}

float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

std::uint16_t float_to_bf16(float f) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffU) > 0x7f800000U) return static_cast<std::uint16_t>((x >> 16) | 0x40);  // NaN
  x += 0x7fffU + ((x >> 16) & 1U);
  return static_cast<std::uint16_t>(x >> 16);
}

RandomWeights::RandomWeights(const ModelArch& arch, std::uint64_t seed) {
  if (arch.dtype != DType::kF16 && arch.dtype != DType::kBF16 && arch.dtype != DType::kF32) {
    throw InputError("model " + arch.name, "random weights support float16, bfloat16 and float32 only");
  }
  const std::vector<TensorSpec> layout = tensor_layout(arch);
  struct Fill {
    std::byte* data;
    DType dtype;
    std::uint64_t begin, end;  // element range
    std::uint64_t key;
    float scale, offset;
  };
  std::vector<Fill> jobs;
  views_.reserve(layout.size());
  for (std::size_t t = 0; t < layout.size(); ++t) {
    const TensorSpec& spec = layout[t];
    TensorView view{spec.name, spec.dtype, spec.shape, nullptr, spec.bytes(), Device{}};
    if (!spec.alias_of.empty()) {
      for (const TensorView& v : views_) {
        if (v.name == spec.alias_of) view.data = v.data;
      }
      views_.push_back(std::move(view));
      continue;
    }
    storage_.push_back(std::make_unique<std::byte[]>(spec.bytes()));
    view.data = storage_.back().get();
    bytes_ += spec.bytes();
    const bool is_bias = spec.name.ends_with(".bias");
    float scale = 1.0f, offset = 0.0f;
    if (spec.shape.size() == 1) {
      scale = 0.1f;
      offset = is_bias ? 0.0f : 1.0f;  // norm weights near 1, biases near 0
    } else if (spec.name.find("embed_tokens") != std::string::npos) {
      // Small next to the layers' outputs: with OPT's tied lm_head, a dominant input embedding would make
      // every greedy step repeat its input token; OPT's learned positions (+-1) keep the state moving.
      scale = 0.1f;
    } else if (spec.name.find("embed_positions") != std::string::npos) {
      scale = 1.0f;
    } else {
      scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(spec.shape[1])));
    }
    const std::uint64_t key = mix64(seed * 0x9e3779b97f4a7c15ULL + t);
    constexpr std::uint64_t kBlock = 1 << 20;
    for (std::uint64_t b = 0; b < spec.elements(); b += kBlock) {
      jobs.push_back({static_cast<std::byte*>(view.data), spec.dtype, b, std::min(spec.elements(), b + kBlock),
                      key, scale, offset});
    }
    views_.push_back(std::move(view));
  }
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t j; (j = next.fetch_add(1)) < jobs.size();) {
      const Fill& f = jobs[j];
      for (std::uint64_t i = f.begin; i < f.end; ++i) {
        const float v = f.offset + f.scale * uniform_pm1(f.key, i);
        switch (f.dtype) {
          case DType::kF16: {
            const std::uint16_t h = float_to_half(v);
            std::memcpy(f.data + 2 * i, &h, 2);
            break;
          }
          case DType::kBF16: {
            const std::uint16_t b = float_to_bf16(v);
            std::memcpy(f.data + 2 * i, &b, 2);
            break;
          }
          case DType::kF32: std::memcpy(f.data + 4 * i, &v, 4); break;
          default: break;  // refused at the top of the constructor
        }
      }
    }
  };
  const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1U, 32U);
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads && i < jobs.size(); ++i) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

const TensorView* RandomWeights::find(std::string_view name) const {
  for (const TensorView& v : views_) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

namespace detail {

const TensorView& require_tensor(const TensorSource& weights, const std::string& name,
                                 const std::vector<std::int64_t>& shape) {
  const TensorView* view = weights.find(name);
  if (view == nullptr) throw InputError("tensor '" + name + "'", "missing from the checkpoint");
  if (view->shape != shape) {
    auto text = [](const std::vector<std::int64_t>& s) {
      std::string out = "[";
      for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
      return out + "]";
    };
    throw InputError("tensor '" + name + "'", "expected shape " + text(shape) + ", got " + text(view->shape));
  }
  if (view->dtype != DType::kF16 && view->dtype != DType::kBF16 && view->dtype != DType::kF32) {
    throw InputError("tensor '" + name + "'",
                     "expected dtype F16, BF16 or F32, got " + std::string(to_string(view->dtype)));
  }
  return *view;
}

std::vector<float> host_to_float(const TensorView& view) {
  const std::uint64_t n = element_count(view.shape);
  std::vector<float> out(n);
  const auto* bytes = static_cast<const std::byte*>(view.data);
  for (std::uint64_t i = 0; i < n; ++i) {
    if (view.dtype == DType::kF32) {
      std::memcpy(&out[i], bytes + 4 * i, 4);
    } else {
      std::uint16_t raw;
      std::memcpy(&raw, bytes + 2 * i, 2);
      out[i] = view.dtype == DType::kF16 ? half_to_float(raw) : bf16_to_float(raw);
    }
  }
  return out;
}

void check_supported(const ModelArch& arch) {
  if (arch.family != ModelFamily::kOpt && arch.family != ModelFamily::kLlama) {
    throw InputError("model " + arch.name, "the engine implements the opt and llama layouts, not " +
                                               std::string(to_string(arch.family)));
  }
  if (arch.head_dim % 2 != 0 || arch.heads % arch.kv_heads != 0) {
    throw InputError("model " + arch.name, "head_dim must be even and heads a multiple of kv_heads");
  }
}

int effective_max_context(const ModelArch& arch, const EngineConfig& config) {
  if (config.max_context <= 0) return arch.max_positions;
  if (config.max_context > arch.max_positions) {
    throw InputError("engine", "max_context " + std::to_string(config.max_context) + " exceeds the model's " +
                                   std::to_string(arch.max_positions) + " positions");
  }
  return config.max_context;
}

void validate_chunks(const Engine& engine, std::span<const SequenceChunk> chunks,
                     std::span<const int> context_lengths) {
  if (chunks.empty()) throw InputError("engine forward", "no chunks");
  std::set<int> slots;
  for (const SequenceChunk& c : chunks) {
    if (c.slot < 0 || c.slot >= engine.config().max_sequences) {
      throw InputError("engine forward", "slot " + std::to_string(c.slot) + " out of range");
    }
    if (!slots.insert(c.slot).second) {
      throw InputError("engine forward", "slot " + std::to_string(c.slot) + " appears twice in one batch");
    }
    if (c.tokens.empty()) throw InputError("engine forward", "empty chunk for slot " + std::to_string(c.slot));
    const auto needed = static_cast<std::int64_t>(context_lengths[static_cast<std::size_t>(c.slot)]) +
                        static_cast<std::int64_t>(c.tokens.size());
    if (needed > engine.config().max_context) {
      throw InputError("engine forward", "slot " + std::to_string(c.slot) + " would hold " + std::to_string(needed) +
                                             " tokens, more than max_context " +
                                             std::to_string(engine.config().max_context));
    }
    for (TokenId t : c.tokens) {
      if (t < 0 || t >= engine.arch().vocab) {
        throw InputError("engine forward", "token id " + std::to_string(t) + " outside the vocabulary of " +
                                               std::to_string(engine.arch().vocab));
      }
    }
  }
}

}  // namespace detail

}  // namespace sllm::models
