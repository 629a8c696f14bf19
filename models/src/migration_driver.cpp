// The real migration driver: the source decodes on its own thread, the destination loads and
// recomputes on another, and this thread runs the event loop between them and MigrationProtocol.
// Threads (rather than interleaving steps on one thread) so that the destination's recompute really
// overlaps the source's decoding, as on two GPUs or two CPU cores, and the pause is measured, not summed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "sllm/models/migration.h"

#include "blocking_queue.h"
#include "sllm/core/error.h"
#include "sllm/models/device_backend.h"

namespace sllm::models {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}


struct Event {
  enum class Kind : std::uint8_t {
    kSourceToken, kSourceFinished, kSourceStopped, kDestLoaded, kRecomputeDone, kDestFinished, kFailed
  };
  explicit Event(Kind k, int count = 0, int rnd = 0, double secs = 0, std::exception_ptr err = nullptr)
      : kind(k), output_count(count), round(rnd), seconds(secs), error(std::move(err)) {}
  Kind kind;
  int output_count;  // kSourceToken: output tokens at the source so far
  int round;
  double seconds;
  std::exception_ptr error;
};

struct DestCommand {
  enum class Kind : std::uint8_t { kRecompute, kResume, kQuit };
  explicit DestCommand(Kind k, int rnd = 0, std::vector<TokenId> toks = {}, int left = 0)
      : kind(k), round(rnd), tokens(std::move(toks)), remaining(left) {}
  Kind kind;
  int round;
  std::vector<TokenId> tokens;  // kRecompute: the tokens sent
  int remaining;                // kResume: output tokens still to produce
};

}  // namespace

LiveMigrationReport run_live_migration(Engine& source, const std::function<std::unique_ptr<Engine>()>& load_destination,
                                       const LiveMigrationRequest& request, const MigrationConfig& config,
                                       const LiveMigrationHooks& hooks) {
  if (request.prompt.empty()) throw InputError("migration", "empty prompt");
  if (request.new_tokens < 1) throw InputError("migration", "new_tokens must be at least 1");
  if (request.migrate_at_token < 0 || request.migrate_at_token >= request.new_tokens) {
    throw InputError("migration", "the migration point must be in [0, new_tokens): got " +
                                      std::to_string(request.migrate_at_token));
  }
  const auto prompt_len = static_cast<std::int64_t>(request.prompt.size());
  // The pause crosses threads four times (source -> driver -> destination -> driver -> destination): how
  // long they poll before sleeping is the source device's backend's call (GPU engines leave cores spare).
  const std::chrono::microseconds poll = device_backend(source.device()).migration_poll();
  // Never closed: pop() always returns an item.
  BlockingQueue<Event> events;
  BlockingQueue<DestCommand> dest_commands;

  // The sequence (prompt + output) as the source produced it; the source appends, the loop copies ranges.
  std::mutex sequence_mutex;
  std::vector<TokenId> sequence = request.prompt;
  Clock::time_point source_last_token;
  std::atomic<bool> stop_source{false};
  std::vector<double> step_seconds;  // the source's decode steps, for the report

  std::thread source_thread([&] {
    try {
      source.reset(0);
      SequenceChunk chunk{0, request.prompt};
      int produced = 0;
      while (produced < request.new_tokens) {
        if (stop_source.load()) {
          events.push(Event(Event::Kind::kSourceStopped));
          return;
        }
        const auto t0 = Clock::now();
        const TokenId next = source.forward({&chunk, 1}).front();
        const auto t1 = Clock::now();
        if (produced > 0) step_seconds.push_back(seconds_between(t0, t1));
        ++produced;
        {
          std::lock_guard lock(sequence_mutex);
          sequence.push_back(next);
          source_last_token = t1;
          chunk.tokens = {&sequence.back(), 1};
        }
        events.push(Event(Event::Kind::kSourceToken, produced));
        if (hooks.on_source_token) hooks.on_source_token(produced);
      }
      events.push(Event(Event::Kind::kSourceFinished));
    } catch (...) {
      events.push(Event(Event::Kind::kFailed, 0, 0, 0, std::current_exception()));
    }
  });

  LiveMigrationReport report;
  std::unique_ptr<Engine> destination;
  std::vector<TokenId> dest_output;
  Clock::time_point dest_first_token;
  bool dest_started = false;
  std::thread dest_thread;
  auto start_destination = [&] {
    dest_started = true;
    dest_thread = std::thread([&] {
      try {
        const auto t0 = Clock::now();
        destination = load_destination();
        destination->reset(0);
        report.load_seconds = seconds_between(t0, Clock::now());
        events.push(Event(Event::Kind::kDestLoaded));
        TokenId next = -1;  // the destination's prediction after the last token it recomputed
        for (;;) {
          DestCommand cmd = *dest_commands.pop_polling(poll);
          if (cmd.kind == DestCommand::Kind::kQuit) return;
          if (cmd.kind == DestCommand::Kind::kRecompute) {
            const auto r0 = Clock::now();
            const SequenceChunk chunk{0, cmd.tokens};
            next = destination->forward({&chunk, 1}).front();
            events.push(Event(Event::Kind::kRecomputeDone, 0, cmd.round, seconds_between(r0, Clock::now())));
            continue;
          }
          // kResume: the prediction from the last recompute is the destination's first new token.
          dest_first_token = Clock::now();
          dest_output.push_back(next);
          while (static_cast<int>(dest_output.size()) < cmd.remaining) {
            const SequenceChunk chunk{0, {&dest_output.back(), 1}};
            dest_output.push_back(destination->forward({&chunk, 1}).front());
          }
          events.push(Event(Event::Kind::kDestFinished));
          return;
        }
      } catch (...) {
        events.push(Event(Event::Kind::kFailed, 0, 0, 0, std::current_exception()));
      }
    });
  };

  std::optional<MigrationProtocol> protocol;
  std::exception_ptr failure;
  bool source_done = false, dest_done = false;
  int source_output = 0;

  auto execute = [&](const std::optional<MigrationCommand>& cmd) {
    if (!cmd) return;
    switch (cmd->kind) {
      case MigrationCommand::Kind::kSend: {
        DestCommand dc(DestCommand::Kind::kRecompute, cmd->round);
        {
          std::lock_guard lock(sequence_mutex);
          dc.tokens.assign(sequence.begin() + cmd->begin, sequence.begin() + cmd->end);
        }
        report.rounds.push_back({cmd->round, cmd->begin, cmd->end, cmd->final, 0});
        dest_commands.push(std::move(dc));
        break;
      }
      case MigrationCommand::Kind::kStopSource: stop_source.store(true); break;
      case MigrationCommand::Kind::kResume:
        dest_commands.push(DestCommand(DestCommand::Kind::kResume, cmd->round, {}, request.new_tokens - source_output));
        break;
      case MigrationCommand::Kind::kDrop:
        report.dropped = true;
        dest_commands.push(DestCommand(DestCommand::Kind::kQuit));
        dest_done = true;
        break;
    }
  };
  auto begin_migration = [&](int output_count) {
    protocol.emplace(config, prompt_len + output_count);
    start_destination();
  };

  if (request.migrate_at_token == 0) begin_migration(0);
  while (!(source_done && (dest_done || !dest_started))) {
    Event ev = *events.pop_polling(poll);
    switch (ev.kind) {
      case Event::Kind::kSourceToken:
        source_output = ev.output_count;
        if (!protocol && ev.output_count == request.migrate_at_token) {
          begin_migration(ev.output_count);
        } else if (protocol) {
          execute(protocol->source_produced(1));
        }
        break;
      case Event::Kind::kSourceFinished:
        source_done = true;
        if (protocol) execute(protocol->source_finished());
        break;
      case Event::Kind::kSourceStopped:
        source_done = true;
        execute(protocol->source_stopped());
        break;
      case Event::Kind::kDestLoaded: execute(protocol->destination_loaded()); break;
      case Event::Kind::kRecomputeDone:
        for (LiveMigrationRound& r : report.rounds) {
          if (r.round == ev.round) r.recompute_seconds = ev.seconds;
        }
        execute(protocol->recompute_finished(ev.round));
        break;
      case Event::Kind::kDestFinished: dest_done = true; break;
      case Event::Kind::kFailed:
        failure = ev.error;
        stop_source.store(true);
        source_done = dest_done = true;
        break;
    }
  }
  if (dest_started) {
    dest_commands.push(DestCommand(DestCommand::Kind::kQuit));  // no-op when the destination already returned
    dest_thread.join();
  }
  source_thread.join();
  if (failure) std::rethrow_exception(failure);

  report.output.assign(sequence.begin() + prompt_len, sequence.end());
  report.tokens_by_source = static_cast<std::int64_t>(report.output.size());
  if (!report.dropped) {
    report.output.insert(report.output.end(), dest_output.begin(), dest_output.end());
    report.tokens_by_destination = static_cast<std::int64_t>(dest_output.size());
    report.pause_seconds = seconds_between(source_last_token, dest_first_token);
  }
  // Step i produced output token i + 2; the steps before the migration started show the undisturbed rate.
  const std::size_t undisturbed = request.migrate_at_token >= 2 ? static_cast<std::size_t>(request.migrate_at_token - 1)
                                                                : step_seconds.size();
  double sum = 0;
  std::size_t n = 0;
  for (; n < undisturbed && n < step_seconds.size(); ++n) sum += step_seconds[n];
  report.decode_step_seconds = n > 0 ? sum / static_cast<double>(n) : 0;
  return report;
}

}  // namespace sllm::models
