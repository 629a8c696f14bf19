// The migration protocol's state machine (see migration.h): no clock, no engine, only events in and
// commands out, so that the simulator and the real driver run the same decisions.
#include "sllm/core/migration_protocol.h"

#include <stdexcept>

namespace sllm {

MigrationProtocol::MigrationProtocol(const MigrationConfig& config, std::int64_t source_tokens)
    : config_(config), source_tokens_(source_tokens) {
  if (config.stop_tokens < 0) throw std::invalid_argument("migration: stop_tokens must be >= 0");
  if (config.max_rounds < 1) throw std::invalid_argument("migration: max_rounds must be >= 1");
  if (source_tokens < 1) throw std::invalid_argument("migration: the sequence must hold at least one token");
}

std::optional<MigrationCommand> MigrationProtocol::send(bool final) {
  MigrationCommand cmd{MigrationCommand::Kind::kSend, ++round_, sent_, source_tokens_, final};
  sent_ = source_tokens_;
  state_ = final ? State::kFinalRecompute : State::kRecomputing;
  return cmd;
}

std::optional<MigrationCommand> MigrationProtocol::destination_loaded() {
  if (state_ != State::kLoading) return std::nullopt;
  return send(false);  // round 1: the prompt and the output so far
}

std::optional<MigrationCommand> MigrationProtocol::source_produced(std::int64_t new_tokens) {
  // While the source runs (or finishes the step in flight after kStopSource), its sequence grows.
  if (state_ == State::kLoading || state_ == State::kRecomputing || state_ == State::kStopping) {
    source_tokens_ += new_tokens;
  }
  return std::nullopt;
}

std::optional<MigrationCommand> MigrationProtocol::recompute_finished(int round) {
  if (round != round_) return std::nullopt;
  if (state_ == State::kRecomputing) {
    const std::int64_t gap = source_tokens_ - sent_;
    if (gap <= config_.stop_tokens || round_ >= config_.max_rounds) {
      state_ = State::kStopping;
      return MigrationCommand{MigrationCommand::Kind::kStopSource, round_, sent_, sent_, false};
    }
    return send(false);  // only the tokens produced during the previous round
  }
  if (state_ == State::kFinalRecompute) {
    state_ = State::kDone;
    return MigrationCommand{MigrationCommand::Kind::kResume, round_, sent_, sent_, true};
  }
  return std::nullopt;
}

std::optional<MigrationCommand> MigrationProtocol::source_stopped() {
  if (state_ != State::kStopping) return std::nullopt;
  if (source_tokens_ > sent_) return send(true);
  // Nothing new since the last round: the destination already holds every token's KV cache.
  state_ = State::kDone;
  return MigrationCommand{MigrationCommand::Kind::kResume, round_, sent_, sent_, true};
}

std::optional<MigrationCommand> MigrationProtocol::source_finished() {
  if (state_ == State::kLoading || state_ == State::kRecomputing || state_ == State::kStopping) {
    state_ = State::kDropped;
    return MigrationCommand{MigrationCommand::Kind::kDrop, round_, sent_, sent_, false};
  }
  return std::nullopt;
}

std::string_view to_string(MigrationProtocol::State state) {
  switch (state) {
    case MigrationProtocol::State::kLoading: return "loading";
    case MigrationProtocol::State::kRecomputing: return "recomputing";
    case MigrationProtocol::State::kStopping: return "stopping";
    case MigrationProtocol::State::kFinalRecompute: return "final-recompute";
    case MigrationProtocol::State::kDone: return "done";
    case MigrationProtocol::State::kDropped: return "dropped";
  }
  return "?";
}

}  // namespace sllm
