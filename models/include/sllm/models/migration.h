// The real driver of token-based live migration: two engines run the protocol of
// sim/migration_protocol.h (see there for how the protocol is driven), one thread per endpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "sllm/models/engine.h"
#include "sllm/core/migration_protocol.h"

namespace sllm::models {

// The protocol itself (MigrationProtocol, MigrationConfig, MigrationCommand) is sim/migration_protocol.h.
using sllm::MigrationCommand;
using sllm::MigrationConfig;
using sllm::MigrationProtocol;

// ---- The real driver: two engines, one thread per endpoint -------------------------------------------

struct LiveMigrationRequest {
  std::vector<TokenId> prompt;
  int new_tokens = 0;       // output tokens of the whole inference
  int migrate_at_token = 0; // start migrating once the source has produced this many (0 .. new_tokens-1)
};

struct LiveMigrationRound {
  int round = 0;
  std::int64_t begin = 0, end = 0;
  bool final = false;
  double recompute_seconds = 0;  // the destination's forward over [begin, end)
};

struct LiveMigrationReport {
  std::vector<TokenId> output;      // the inference's generated tokens, source's then destination's
  bool dropped = false;             // finished at the source during the migration
  double load_seconds = 0;          // destination's model load
  std::vector<LiveMigrationRound> rounds;
  double pause_seconds = 0;         // source's last token -> destination's first new token
  std::int64_t tokens_by_source = 0, tokens_by_destination = 0;  // output tokens each produced
  double decode_step_seconds = 0;   // the source's mean decode step before the migration started
};

struct LiveMigrationHooks {
  // Called on the source's thread after each output token was reported (count of output tokens so far).
  std::function<void(int)> on_source_token;
};

// Runs the inference on `source` (slot 0, reset first) and migrates it mid-generation to the engine
// `load_destination` returns (called on the destination's thread: the load is part of the migration).
// The source keeps decoding on its own thread while the destination loads and recomputes on another;
// this thread runs the event loop that feeds MigrationProtocol and carries out its commands.
LiveMigrationReport run_live_migration(Engine& source, const std::function<std::unique_ptr<Engine>()>& load_destination,
                                       const LiveMigrationRequest& request, const MigrationConfig& config,
                                       const LiveMigrationHooks& hooks = {});

}  // namespace sllm::models
