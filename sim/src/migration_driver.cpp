#include "migration_driver.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "sim_events.h"

namespace sllm {

void MigrationDriver::start(const MigrationOrder& order, InstanceId beneficiary) {
  const std::uint32_t mid = pool_.take();
  Migration& mg = migrations_[mid];
  mg = Migration{};
  mg.source = order.instance;
  mg.beneficiary = beneficiary;
  mg.beneficiary_generation = st_.instances[beneficiary].generation;
  Instance& source = st_.instances[order.instance];
  const std::uint64_t steps = steps_now(source);
  for (RequestSlot slot : source.running) {
    const RequestState& r = st_.requests[slot];
    mg.slots.push_back(slot);
    mg.protocols.emplace_back(order.protocol,
                              static_cast<std::int64_t>(r.spec.input_tokens + r.generated + steps));
    ++counts_.started;
  }
  source.migration = mid;
  if (observer_ != nullptr) observer_->on_instance_phase(source, now());
  // `source` may dangle from here: creating the destination can grow the instance table.
  const InstanceId dest = listener_.create_destination(st_.instances[order.instance].model, order.destination);
  Instance& d = st_.instances[dest];
  d.migration = mid;
  d.migration_destination = true;
  mg.destination = dest;
  loads_.enqueue(d, order.tier, LoadOptions{});
}

void MigrationDriver::sync_source(Migration& mg) {
  const Instance& source = st_.instances[mg.source];
  const std::uint64_t steps = steps_now(source);
  for (std::size_t i = 0; i < mg.slots.size(); ++i) {
    const RequestState& r = st_.requests[mg.slots[i]];
    const auto tokens = static_cast<std::int64_t>(r.spec.input_tokens + r.generated + steps);
    const std::int64_t delta = tokens - mg.protocols[i].source_tokens();
    if (delta > 0) mg.protocols[i].source_produced(delta);
  }
}

void MigrationDriver::apply(std::uint32_t mid, const std::vector<std::optional<MigrationCommand>>& commands) {
  Migration& mg = migrations_[mid];
  if (commands.empty() || !commands.front()) throw std::logic_error("migration protocol gave no command");
  const MigrationCommand::Kind kind = commands.front()->kind;
  for (const auto& c : commands) {
    if (!c || c->kind != kind || c->round != commands.front()->round) {
      throw std::logic_error("migration protocols of one batch out of step");
    }
  }
  switch (kind) {
    case MigrationCommand::Kind::kSend: {
      std::uint64_t tokens = 0;
      double squares = 0;       // causal attention of tokens [begin, end) over the context before them
      double cached_pairs = 0;  // each of those tokens against the context already at the destination
      for (const auto& c : commands) {
        const auto n = static_cast<double>(c->end - c->begin), cached = static_cast<double>(c->begin);
        tokens += static_cast<std::uint64_t>(c->end - c->begin);
        squares += recompute_squares(n, cached);
        cached_pairs += n * cached;
      }
      const Instance& dest = st_.instances[mg.destination];
      const ModelArch& arch = *st_.models[dest.model].deployed->arch;
      const GpuSpec& gpu = st_.servers[dest.server].spec->gpu;
      const auto gpus = static_cast<std::uint32_t>(dest.gpus.size());
      double seconds = cost_.recompute_seconds(arch, gpu, gpus, tokens, squares, cached_pairs);
      // The source is stopped during the final round: the pause also holds the hand-off around it.
      if (commands.front()->final) seconds += cost_.migration_handoff_seconds(arch, gpu, gpus);
      mg.round = commands.front()->round;
      mg.round_event = queue_.schedule(now() + from_seconds(seconds), sim_events::kMigrationRound, mid,
                                       static_cast<std::uint64_t>(mg.round));
      break;
    }
    case MigrationCommand::Kind::kStopSource: request_source_stop(mg); break;
    case MigrationCommand::Kind::kResume: resume_at_destination(mid); break;
    case MigrationCommand::Kind::kDrop: throw std::logic_error("unexpected migration drop");
  }
}

template <class Feed>
void MigrationDriver::advance_protocols(std::uint32_t mid, Feed feed) {
  Migration& mg = migrations_[mid];
  sync_source(mg);
  std::vector<std::optional<MigrationCommand>> commands;  // per migration event, not per request
  for (MigrationProtocol& p : mg.protocols) commands.push_back(feed(p));
  apply(mid, commands);
}

void MigrationDriver::on_destination_loaded(Instance& dest) {
  advance_protocols(dest.migration, [](MigrationProtocol& p) { return p.destination_loaded(); });
}

void MigrationDriver::on_round(std::uint32_t mid, int round) {
  migrations_[mid].round_event = EventId{};
  advance_protocols(mid, [round](MigrationProtocol& p) { return p.recompute_finished(round); });
}

void MigrationDriver::request_source_stop(Migration& mg) {
  mg.stopping = true;
  Instance& source = st_.instances[mg.source];
  // The step in progress completes; the source stops at that step boundary.
  Nanos boundary = now();
  if (source.state == InstanceState::kDecode) {
    const std::uint64_t k = steps_now(source);
    if (source.segment_start + from_seconds(source.segment.cumulative(k)) < now()) {
      boundary = source.segment_start +
                 from_seconds(source.segment.cumulative(std::min(k + 1, source.segment_max_steps)));
    }
  }
  boundary = std::max(boundary, now());
  if (source.next_event_time < 0 || boundary < source.next_event_time) batcher_.schedule_step(source, boundary);
}

bool MigrationDriver::take_over_source(Instance& source) {
  const std::uint32_t mid = source.migration;
  Migration& mg = migrations_[mid];
  if (mg.slots.empty()) {
    // Every inference finished at the source first: the migration is dropped and the source's GPUs
    // go to the instance that waits for them.
    const InstanceId beneficiary = mg.beneficiary;
    const std::uint32_t generation = mg.beneficiary_generation;
    end_migration(mid);
    release_source(source.id, beneficiary, generation);
    return true;
  }
  if (mg.stopping) {
    freeze_source(source);
    return true;
  }
  return false;
}

void MigrationDriver::freeze_source(Instance& inst) {
  // The batcher already counted the steps up to now into `generated`.
  queue_.cancel(inst.next_event);
  inst.next_event = EventId{};
  inst.next_event_time = -1;
  st_.gpu_accounting.stop_busy(inst, now());
  inst.state = InstanceState::kHandoff;
  if (observer_ != nullptr) observer_->on_instance_phase(inst, now());
  migrations_[inst.migration].stop_time = now();
  advance_protocols(inst.migration, [](MigrationProtocol& p) { return p.source_stopped(); });
}

void MigrationDriver::resume_at_destination(std::uint32_t mid) {
  Migration& mg = migrations_[mid];
  Instance& source = st_.instances[mg.source];
  Instance& dest = st_.instances[mg.destination];
  const Nanos pause = now() - mg.stop_time;
  for (std::size_t i = 0; i < mg.slots.size(); ++i) {
    RequestState& r = st_.requests[mg.slots[i]];
    const MigrationProtocol& p = mg.protocols[i];
    if (p.sent_tokens() != static_cast<std::int64_t>(r.spec.input_tokens + r.generated)) {
      throw std::logic_error("migration resumed without every token at the destination (sent " +
                             std::to_string(p.sent_tokens()) + ", sequence " +
                             std::to_string(r.spec.input_tokens + r.generated) + ", round " +
                             std::to_string(p.round()) + ", source " + std::to_string(p.source_tokens()) + ")");
    }
    r.instance = dest.id;
    r.server = dest.server;
    ++r.migrations;
    r.migration_rounds += static_cast<std::uint32_t>(p.round());
    r.migration_tokens += static_cast<std::uint64_t>(p.sent_tokens());
    r.migration_pause += pause;
    dest.running.push_back(mg.slots[i]);
    dest.kv_tokens_reserved += Batcher::kv_need(r);
    source.kv_tokens_reserved -= Batcher::kv_need(r);
    ++counts_.completed;
    counts_.rounds += static_cast<std::uint64_t>(p.round());
    counts_.tokens += static_cast<std::uint64_t>(p.sent_tokens());
    listener_.on_request_migrated(pause);
  }
  source.running.clear();
  const InstanceId source_id = source.id, beneficiary = mg.beneficiary;
  const std::uint32_t generation = mg.beneficiary_generation;
  dest.migration = kNone;
  dest.migration_destination = false;
  st_.gpu_accounting.start_busy(dest, now());
  end_migration(mid);
  batcher_.try_admit(dest);  // decodes the migrated batch (and admits waiting requests of its model)
  release_source(source_id, beneficiary, generation);
}

void MigrationDriver::drop_finished(Instance& source, RequestSlot slot) {
  Migration& mg = migrations_[source.migration];
  for (std::size_t i = 0; i < mg.slots.size(); ++i) {
    if (mg.slots[i] != slot) continue;
    // No sync here: the batcher has already added this segment's steps to `generated` while the
    // segment still reads as running, so the token count would be off until the next segment starts.
    if (mg.protocols[i].source_finished()) ++counts_.dropped;
    mg.slots.erase(mg.slots.begin() + static_cast<std::ptrdiff_t>(i));
    mg.protocols.erase(mg.protocols.begin() + static_cast<std::ptrdiff_t>(i));
    return;
  }
}

void MigrationDriver::end_migration(std::uint32_t mid) {
  Migration& mg = migrations_[mid];
  queue_.cancel(mg.round_event);
  Instance& source = st_.instances[mg.source];
  source.migration = kNone;
  if (observer_ != nullptr) observer_->on_instance_phase(source, now());
  Instance& dest = st_.instances[mg.destination];
  if (dest.migration == mid) {  // dropped: abandon the destination's copy
    dest.migration = kNone;
    dest.migration_destination = false;
    if (dest.load != kNone) {
      dest.discard_when_loaded = true;
    } else {
      listener_.unload(dest.id);
    }
  }
  mg = Migration{};
  pool_.release(mid);
}

MigrationDriver::Parts MigrationDriver::abort(std::uint32_t mid) {
  Migration& mg = migrations_[mid];
  queue_.cancel(mg.round_event);
  Parts parts{mg.source, mg.destination, kNone};
  Instance& source = st_.instances[mg.source];
  source.migration = kNone;
  Instance& dest = st_.instances[mg.destination];
  dest.migration = kNone;
  dest.migration_destination = false;
  const Instance& b = st_.instances[mg.beneficiary];
  if (b.generation == mg.beneficiary_generation && b.alive() && b.gpus_owed > 0) parts.beneficiary = mg.beneficiary;
  if (observer_ != nullptr) observer_->on_instance_phase(source, now());
  mg = Migration{};
  pool_.release(mid);
  return parts;
}

void MigrationDriver::release_source(InstanceId id, InstanceId beneficiary, std::uint32_t generation) {
  Instance& inst = st_.instances[id];
  queue_.cancel(inst.next_event);
  inst.next_event = EventId{};
  st_.gpu_accounting.stop_busy(inst, now());
  listener_.unload(id);
  give_gpus(beneficiary, generation);
  listener_.on_source_released();
}

void MigrationDriver::give_gpus(InstanceId beneficiary, std::uint32_t generation) {
  Instance& inst = st_.instances[beneficiary];
  // Nothing owed (earlier migrations freed enough, or the slot now holds another instance).
  if (inst.generation != generation || !inst.alive() || inst.gpus_owed == 0) return;
  if (observer_ != nullptr) observer_->on_instance_ended(inst, now());  // a span covers one GPU set
  inst.gpus_owed -= st_.gpu_accounting.take(inst, inst.gpus_owed, now());
  if (observer_ != nullptr) observer_->on_instance_phase(inst, now());
  if (inst.gpus_owed == 0) {
    // The fastest tier holding the checkpoint now (the one chosen may have been evicted meanwhile).
    loads_.enqueue(inst, st_.best_tier(inst.server, inst.model), inst.deferred_load);
  }
}

}  // namespace sllm
