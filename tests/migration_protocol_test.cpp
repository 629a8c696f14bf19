// The migration state machine alone: rounds, the stop rule, the max-rounds guard, drops, stale events.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

#include "sllm/core/migration_protocol.h"

namespace {

using sllm::MigrationCommand;
using sllm::MigrationConfig;
using sllm::MigrationProtocol;
using Kind = MigrationCommand::Kind;
using State = MigrationProtocol::State;

void expect_send(const std::optional<MigrationCommand>& c, int round, std::int64_t begin, std::int64_t end, bool final) {
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->kind, Kind::kSend);
  EXPECT_EQ(c->round, round);
  EXPECT_EQ(c->begin, begin);
  EXPECT_EQ(c->end, end);
  EXPECT_EQ(c->final, final);
}

void expect_kind(const std::optional<MigrationCommand>& c, Kind kind) {
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->kind, kind);
}

TEST(MigrationProtocol, MultiRoundThenHandover) {
  MigrationProtocol m({.stop_tokens = 20, .max_rounds = 8}, 100);
  EXPECT_EQ(m.state(), State::kLoading);
  EXPECT_FALSE(m.source_produced(7).has_value());            // decoding continues while loading
  expect_send(m.destination_loaded(), 1, 0, 107, false);     // round 1: prompt + output so far
  EXPECT_FALSE(m.source_produced(30).has_value());
  expect_send(m.recompute_finished(1), 2, 107, 137, false);  // 30 > 20: another round with only those
  EXPECT_FALSE(m.source_produced(5).has_value());
  expect_kind(m.recompute_finished(2), Kind::kStopSource);   // 5 <= 20: stop
  EXPECT_EQ(m.state(), State::kStopping);
  EXPECT_FALSE(m.source_produced(1).has_value());            // the step in flight still lands
  expect_send(m.source_stopped(), 3, 137, 143, true);        // final round: the last few tokens
  EXPECT_EQ(m.state(), State::kFinalRecompute);
  expect_kind(m.recompute_finished(3), Kind::kResume);
  EXPECT_EQ(m.state(), State::kDone);
  EXPECT_EQ(m.round(), 3);
  EXPECT_EQ(m.sent_tokens(), 143);
  EXPECT_EQ(m.source_tokens(), 143);
  EXPECT_FALSE(m.source_finished().has_value());  // after the handover the source is gone
}

TEST(MigrationProtocol, StopRuleBoundaryIsInclusiveAndConfigurable) {
  MigrationProtocol at_limit({.stop_tokens = 20}, 10);
  at_limit.destination_loaded();
  at_limit.source_produced(20);
  expect_kind(at_limit.recompute_finished(1), Kind::kStopSource);

  MigrationProtocol over({.stop_tokens = 20}, 10);
  over.destination_loaded();
  over.source_produced(21);
  expect_send(over.recompute_finished(1), 2, 10, 31, false);

  MigrationProtocol strict({.stop_tokens = 0}, 10);
  strict.destination_loaded();
  strict.source_produced(1);
  expect_send(strict.recompute_finished(1), 2, 10, 11, false);
  expect_kind(strict.recompute_finished(2), Kind::kStopSource);  // nothing new since round 2
}

TEST(MigrationProtocol, MaxRoundsGuardStopsAGapThatNeverCloses) {
  MigrationProtocol m({.stop_tokens = 5, .max_rounds = 3}, 50);
  expect_send(m.destination_loaded(), 1, 0, 50, false);
  m.source_produced(40);
  expect_send(m.recompute_finished(1), 2, 50, 90, false);
  m.source_produced(40);
  expect_send(m.recompute_finished(2), 3, 90, 130, false);
  m.source_produced(40);
  expect_kind(m.recompute_finished(3), Kind::kStopSource);  // round 3 = max_rounds
  expect_send(m.source_stopped(), 4, 130, 170, true);
  expect_kind(m.recompute_finished(4), Kind::kResume);
}

TEST(MigrationProtocol, NothingNewAtStopResumesWithoutAFinalRound) {
  MigrationProtocol m({}, 30);
  m.destination_loaded();
  expect_kind(m.recompute_finished(1), Kind::kStopSource);
  const auto resume = m.source_stopped();
  expect_kind(resume, Kind::kResume);
  EXPECT_EQ(resume->end, 30);
  EXPECT_EQ(m.round(), 1);
  EXPECT_EQ(m.state(), State::kDone);
}

TEST(MigrationProtocol, FinishingAtTheSourceDropsInEveryActiveState) {
  MigrationProtocol loading({}, 10);
  expect_kind(loading.source_finished(), Kind::kDrop);
  EXPECT_EQ(loading.state(), State::kDropped);
  EXPECT_FALSE(loading.destination_loaded().has_value());  // late events are ignored

  MigrationProtocol recomputing({}, 10);
  recomputing.destination_loaded();
  expect_kind(recomputing.source_finished(), Kind::kDrop);
  EXPECT_FALSE(recomputing.recompute_finished(1).has_value());

  MigrationProtocol stopping({}, 10);
  stopping.destination_loaded();
  stopping.recompute_finished(1);
  stopping.source_produced(1);
  expect_kind(stopping.source_finished(), Kind::kDrop);  // the step in flight was the last one
  EXPECT_FALSE(stopping.source_stopped().has_value());
  EXPECT_TRUE(stopping.finished());
}

TEST(MigrationProtocol, StaleAndDuplicateEventsAreIgnored) {
  MigrationProtocol m({}, 10);
  EXPECT_FALSE(m.recompute_finished(1).has_value());  // nothing sent yet
  EXPECT_FALSE(m.source_stopped().has_value());
  m.destination_loaded();
  EXPECT_FALSE(m.destination_loaded().has_value());
  EXPECT_FALSE(m.recompute_finished(2).has_value());  // wrong round
  EXPECT_EQ(m.state(), State::kRecomputing);
}

// Many pseudo-random event orders: the rounds tile [0, n) without gaps or overlaps, every non-final
// round but the first was started with more than stop_tokens pending, and the handover happens with the
// sequence complete on the destination.
TEST(MigrationProtocol, RoundsTileTheSequenceUnderRandomRates) {
  std::uint64_t rng = 12345;
  auto next = [&](int mod) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((rng >> 33) % static_cast<std::uint64_t>(mod));
  };
  for (int trial = 0; trial < 500; ++trial) {
    const int stop = next(25), rounds = 1 + next(6);
    std::int64_t tokens = 1 + next(2000);
    MigrationProtocol m({.stop_tokens = stop, .max_rounds = rounds}, tokens);
    tokens += next(50);
    m.source_produced(tokens - m.source_tokens());
    auto cmd = m.destination_loaded();
    std::int64_t covered = 0;
    while (cmd && cmd->kind == Kind::kSend && !cmd->final) {
      ASSERT_EQ(cmd->begin, covered);
      ASSERT_GT(cmd->end, cmd->begin);
      if (cmd->round > 1) {
        ASSERT_GT(cmd->end - cmd->begin, stop);
      }
      covered = cmd->end;
      const int produced = next(2 * stop + 10);
      tokens += produced;
      m.source_produced(produced);
      cmd = m.recompute_finished(cmd->round);
    }
    ASSERT_TRUE(cmd.has_value());
    ASSERT_EQ(cmd->kind, Kind::kStopSource);
    ASSERT_TRUE(m.round() >= rounds || tokens - covered <= stop);
    m.source_produced(1);
    ++tokens;
    cmd = m.source_stopped();
    ASSERT_EQ(cmd->kind, Kind::kSend);
    ASSERT_TRUE(cmd->final);
    ASSERT_EQ(cmd->begin, covered);
    ASSERT_EQ(cmd->end, tokens);
    cmd = m.recompute_finished(cmd->round);
    ASSERT_EQ(cmd->kind, Kind::kResume);
    ASSERT_EQ(m.sent_tokens(), tokens);
  }
}

}  // namespace
