// Real migrations between two CPU engines (tiny models, both layouts): the migrated output must be
// token-identical to an uninterrupted run wherever the migration starts, and an inference that finishes
// during the migration must be dropped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "sllm/models/engine.h"
#include "sllm/models/migration.h"
#include "sllm/core/model_arch.h"

namespace {

using namespace sllm::models;

constexpr int kPrompt = 12, kNew = 24;

struct Fixture {
  explicit Fixture(const std::string& model)
      : arch(sllm::ModelCatalog::builtin().get(model, "test")), weights(arch, 5),
        prompt(random_tokens(9, kPrompt, arch.vocab)) {
    source = Engine::create(arch, weights, {}, {.max_sequences = 1, .max_context = kPrompt + kNew});
    expected = generate_greedy(*source, 0, prompt, kNew);
  }
  std::function<std::unique_ptr<Engine>()> loader() {
    return [this] { return Engine::create(arch, weights, {}, {.max_sequences = 1, .max_context = kPrompt + kNew}); };
  }
  sllm::ModelArch arch;
  RandomWeights weights;
  std::vector<TokenId> prompt, expected;
  std::unique_ptr<Engine> source;
};

void expect_consistent(const LiveMigrationReport& r) {
  EXPECT_EQ(static_cast<int>(r.output.size()), kNew);
  EXPECT_EQ(r.tokens_by_source + r.tokens_by_destination, kNew);
  std::int64_t covered = 0;
  for (const LiveMigrationRound& round : r.rounds) {
    EXPECT_EQ(round.begin, covered);
    covered = round.end;
  }
  if (!r.dropped) {
    ASSERT_FALSE(r.rounds.empty());
    EXPECT_EQ(covered, kPrompt + r.tokens_by_source);  // the destination holds the whole sequence
    EXPECT_GE(r.pause_seconds, 0.0);
  }
}

class MigrationLiveTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MigrationLiveTest, MigratedOutputIsIdenticalAtEveryPoint) {
  Fixture f(GetParam());
  ASSERT_GE(std::set<TokenId>(f.expected.begin(), f.expected.end()).size(), 3u)
      << "the greedy output must vary, or identity would prove little";
  for (int at : {0, 1, kNew / 2, kNew - 1}) {
    // The source is slowed to ~5 ms a token once the migration starts, like a big model, so that the
    // destination's load and recompute usually win; identity must hold either way.
    LiveMigrationHooks hooks{[at](int produced) {
      if (produced >= at) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }};
    const LiveMigrationReport r =
        run_live_migration(*f.source, f.loader(), {f.prompt, kNew, at}, {.stop_tokens = 2, .max_rounds = 8}, hooks);
    EXPECT_EQ(r.output, f.expected) << "migration at token " << at << (r.dropped ? " (dropped)" : "");
    expect_consistent(r);
    if (at == 0) {  // 24 tokens * 5 ms leave the tiny destination ample time: a real handover
      EXPECT_FALSE(r.dropped);
      EXPECT_GT(r.tokens_by_destination, 0);
    }
  }
}

TEST_P(MigrationLiveTest, InferenceFinishingDuringTheMigrationIsDropped) {
  Fixture f(GetParam());
  std::promise<void> source_done;
  std::shared_future<void> done = source_done.get_future().share();
  LiveMigrationHooks hooks{[&](int produced) {
    if (produced == kNew) source_done.set_value();
  }};
  auto slow_loader = [&, base = f.loader()] {
    done.wait();  // the destination finishes loading only after the last token
    return base();
  };
  const LiveMigrationReport r = run_live_migration(*f.source, slow_loader, {f.prompt, kNew, kNew - 3}, {}, hooks);
  EXPECT_TRUE(r.dropped);
  EXPECT_LE(r.rounds.size(), 1u);  // round 1 may be sent just before the finish is reported
  EXPECT_EQ(r.tokens_by_source, kNew);
  EXPECT_EQ(r.output, f.expected);
}

// The destination's engine, wrapped so that its first recompute (round 1) waits until the source has
// produced 6 more tokens than round 1 carries: a second round must then carry them (stop_tokens = 3).
class LaggingEngine final : public Engine {
 public:
  LaggingEngine(std::unique_ptr<Engine> inner, const std::atomic<int>* source_output)
      : Engine(inner->arch(), inner->device(), inner->config()), inner_(std::move(inner)), source_output_(source_output) {}
  std::vector<TokenId> forward(std::span<const SequenceChunk> chunks, std::vector<float>* logits) override {
    if (calls_++ == 0) {
      const int target = static_cast<int>(chunks[0].tokens.size()) - kPrompt + 6;
      while (source_output_->load() < target) std::this_thread::sleep_for(std::chrono::microseconds(200));
      first_round_output_ = static_cast<int>(chunks[0].tokens.size()) - kPrompt;
    }
    return inner_->forward(chunks, logits);
  }
  void reset(int slot) override { inner_->reset(slot); }
  int context_length(int slot) const override { return inner_->context_length(slot); }
  int first_round_output_ = -1;

 private:
  std::unique_ptr<Engine> inner_;
  const std::atomic<int>* source_output_;
  int calls_ = 0;
};

TEST_P(MigrationLiveTest, MultipleRoundsWhenTheSourceOutrunsTheRecompute) {
  Fixture f(GetParam());
  std::atomic<int> produced_so_far{0};
  LiveMigrationHooks hooks{[&](int produced) {
    produced_so_far.store(produced);
    if (produced >= 2) std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }};
  auto loader = [&, base = f.loader()] { return std::make_unique<LaggingEngine>(base(), &produced_so_far); };
  const LiveMigrationReport r = run_live_migration(*f.source, loader, {f.prompt, kNew, 2}, {.stop_tokens = 3}, hooks);
  EXPECT_EQ(r.output, f.expected);
  expect_consistent(r);
  ASSERT_FALSE(r.dropped);
  ASSERT_GE(r.rounds.size(), 2u);
  EXPECT_GE(r.rounds[1].end - r.rounds[1].begin, 6);  // what the source produced during round 1
}

INSTANTIATE_TEST_SUITE_P(Layouts, MigrationLiveTest, ::testing::Values("tiny-opt", "tiny-llama"));

}  // namespace
