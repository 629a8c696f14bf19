// Token-based, multi-round live migration of one running inference (ServerlessLLM section 3), written
// once as a state machine. It lives in sim/ because both the simulator (simulated time and costs) and
// the real driver in models/migration.h (two real engines) run it.
//
// The protocol sends tokens, never the KV cache: the destination recomputes the KV cache of the tokens
// it receives with a prefill while the source keeps decoding; each round sends only the tokens produced
// during the previous one; once at most `stop_tokens` new tokens remain (or after `max_rounds`), the
// source stops, the destination recomputes the last few tokens and resumes. If the inference finishes
// at the source first, the migration is dropped.
//
// MigrationProtocol has no clock and no engine: it consumes events and returns commands. Driving it
// from an event loop (the simulator, or the real driver below):
//
//   MigrationProtocol m(config, source_tokens_now);          // state kLoading: start loading the model
//   ... when the destination's model is loaded:               cmd = m.destination_loaded();
//   ... each time the source emits tokens:                    cmd = m.source_produced(n);
//   ... when the destination finished recomputing round k:    cmd = m.recompute_finished(k);
//   ... when the source has actually stopped (after kStop):   cmd = m.source_stopped();
//   ... when the inference finished at the source:            cmd = m.source_finished();
//
// Every event returns std::optional<MigrationCommand>: at most one command, to execute then:
//   kSend   {round, begin, end, final}: ship tokens [begin, end) of the sequence (prompt + output, in
//           order) to the destination, which appends their KV cache; report recompute_finished(round).
//   kStopSource: stop decoding at the source (the current step may still complete; report its tokens
//           with source_produced before source_stopped). The source's sequence is then frozen.
//   kResume: the destination holds the KV cache of every token and continues decoding; route the
//           request there and free the source. The migration is over (state kDone).
//   kDrop:   the inference finished first: abandon the destination's copy (state kDropped).
// Simulated time and costs belong to the caller: e.g. the simulator schedules recompute_finished(k) at
// now + prefill_time(end - begin, context = begin), and source_produced(1) every decode step. Events that
// no longer matter (tokens after kStopSource was answered by source_stopped, anything after kDone or
// kDropped) are accepted and ignored, so an event loop need not filter them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sllm {

struct MigrationConfig {
  int stop_tokens = 20;  // stop the source once at most this many tokens are not yet on the destination
  int max_rounds = 8;    // guard: stop after this many rounds even if the gap stays larger
};

struct MigrationCommand {
  enum class Kind : std::uint8_t { kSend, kStopSource, kResume, kDrop };
  Kind kind = Kind::kSend;
  int round = 0;             // kSend: 1, 2, ...; the final round's number too
  std::int64_t begin = 0;    // kSend: token range [begin, end) of the whole sequence
  std::int64_t end = 0;
  bool final = false;        // kSend: the source has stopped; the destination resumes after this round
};

class MigrationProtocol {
 public:
  enum class State : std::uint8_t {
    kLoading,         // destination loading the model
    kRecomputing,     // a round's tokens are being recomputed at the destination; the source decodes
    kStopping,        // kStopSource issued; waiting for source_stopped()
    kFinalRecompute,  // the final round is being recomputed; the source is stopped
    kDone,            // kResume issued
    kDropped,         // kDrop issued
  };

  // `source_tokens`: the length of the sequence (prompt + output so far) when the migration starts.
  MigrationProtocol(const MigrationConfig& config, std::int64_t source_tokens);

  std::optional<MigrationCommand> destination_loaded();
  std::optional<MigrationCommand> source_produced(std::int64_t new_tokens);
  std::optional<MigrationCommand> recompute_finished(int round);
  std::optional<MigrationCommand> source_stopped();
  std::optional<MigrationCommand> source_finished();

  State state() const { return state_; }
  int round() const { return round_; }                            // rounds sent so far (final included)
  std::int64_t source_tokens() const { return source_tokens_; }    // sequence length at the source
  std::int64_t sent_tokens() const { return sent_; }               // tokens shipped so far
  bool finished() const { return state_ == State::kDone || state_ == State::kDropped; }

 private:
  std::optional<MigrationCommand> send(bool final);

  MigrationConfig config_;
  State state_ = State::kLoading;
  int round_ = 0;
  std::int64_t source_tokens_ = 0;
  std::int64_t sent_ = 0;
};

std::string_view to_string(MigrationProtocol::State state);

}  // namespace sllm
