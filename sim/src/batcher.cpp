#include "batcher.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace sllm {

const RequestState* Batcher::queue_head(ModelRuntime& m) {
  while (!m.queue.empty()) {
    const QueuedRequest& e = m.queue.front();
    if (st_.still_waiting(e)) return &st_.requests[e.slot];
    m.queue.pop_front();
  }
  return nullptr;
}

bool Batcher::can_admit_head(ModelRuntime& m, const Instance& inst) {
  const RequestState* r = queue_head(m);
  // A migration source takes no new requests (they would have to be migrated too).
  return r != nullptr && inst.migration == kNone && fits(inst, kv_need(*r));
}

void Batcher::try_admit(Instance& inst) {
  ModelRuntime& mr = st_.models[inst.model];
  while (can_admit_head(mr, inst)) {
    const RequestSlot slot = mr.queue.front().slot;
    mr.queue.pop_front();
    --mr.queued_live;
    ++mr.in_service;
    RequestState& r = st_.requests[slot];
    queue_.cancel(r.timeout);
    r.instance = inst.id;
    r.server = inst.server;
    r.service_start = now();
    r.generated = 0;
    if (inst.loaded_from != Tier::kWarm && r.spec.arrival < inst.ready) {
      r.cold_start = true;
      r.tier = inst.loaded_from;
      r.load_time = inst.ready - inst.load_started;
    }
    inst.kv_tokens_reserved += kv_need(r);
    inst.joining.push_back(slot);
  }
  if (!inst.joining.empty()) {
    start_prefill(inst);
  } else if (!inst.running.empty()) {
    start_segment(inst);
  } else {
    listener_.on_nothing_to_serve(inst);
  }
}

void Batcher::admit_at_next_step(Instance& inst) {
  const Nanos elapsed = now() - inst.segment_start;
  const std::uint64_t k = inst.segment.steps_within(elapsed, inst.segment_max_steps);
  Nanos boundary = inst.segment_start + from_seconds(inst.segment.cumulative(k));
  if (boundary < now()) {
    boundary = inst.segment_start + from_seconds(inst.segment.cumulative(k + 1));
  }
  if (boundary < inst.next_event_time) schedule_step(inst, boundary);
}

void Batcher::start_prefill(Instance& inst) {
  inst.state = InstanceState::kPrefill;
  if (observer_ != nullptr) observer_->on_instance_phase(inst, now());
  std::uint64_t tokens = 0;
  double squares = 0;
  for (RequestSlot slot : inst.joining) {
    const double len = st_.requests[slot].spec.input_tokens;
    tokens += st_.requests[slot].spec.input_tokens;
    squares += len * len;
  }
  const ModelRuntime& mr = st_.models[inst.model];
  const double seconds = cost_.prefill_seconds(*mr.deployed->arch, st_.servers[inst.server].spec->gpu,
                                               static_cast<std::uint32_t>(inst.gpus.size()), tokens, squares);
  schedule_step(inst, now() + from_seconds(seconds));
}

void Batcher::start_segment(Instance& inst) {
  inst.state = InstanceState::kDecode;
  if (observer_ != nullptr) observer_->on_instance_phase(inst, now());
  double context = 0;
  std::uint64_t max_steps = std::numeric_limits<std::uint64_t>::max();
  for (RequestSlot slot : inst.running) {
    const RequestState& r = st_.requests[slot];
    context += static_cast<double>(r.spec.input_tokens) + r.generated;
    max_steps = std::min<std::uint64_t>(max_steps, r.spec.output_tokens - r.generated);
  }
  const auto batch = static_cast<std::uint32_t>(inst.running.size());
  ModelRuntime& mr = st_.models[inst.model];
  inst.segment = DecodeRun(cost_.decode_law(*mr.deployed->arch, st_.servers[inst.server].spec->gpu,
                                            static_cast<std::uint32_t>(inst.gpus.size()), batch),
                           context, batch);
  inst.segment_start = now();
  inst.segment_max_steps = max_steps;
  // Run to the first completion, or stop after one step to admit a waiting request.
  const std::uint64_t steps = can_admit_head(mr, inst) ? 1 : max_steps;
  schedule_step(inst, now() + from_seconds(inst.segment.cumulative(steps)));
}

void Batcher::on_step(InstanceId id) {
  Instance& inst = st_.instances[id];
  inst.next_event = EventId{};
  inst.next_event_time = -1;
  ModelRuntime& mr = st_.models[inst.model];
  if (inst.state == InstanceState::kPrefill) {
    for (RequestSlot slot : inst.joining) {
      RequestState& r = st_.requests[slot];
      r.first_token = now();
      r.generated = 1;  // prefill produces the first output token
      inst.running.push_back(slot);
    }
    inst.joining.clear();
  } else if (inst.state == InstanceState::kDecode) {
    const std::uint64_t k = inst.segment.steps_within(now() - inst.segment_start, inst.segment_max_steps);
    for (RequestSlot slot : inst.running) st_.requests[slot].generated += static_cast<std::uint32_t>(k);
  } else {
    throw std::logic_error("instance step event in an unexpected state");
  }
  // Completions (order kept deterministic: the running list's order).
  std::size_t keep = 0;
  for (std::size_t i = 0; i < inst.running.size(); ++i) {
    const RequestSlot slot = inst.running[i];
    RequestState& r = st_.requests[slot];
    if (r.generated >= r.spec.output_tokens) {
      if (r.generated != r.spec.output_tokens) throw std::logic_error("a request produced more tokens than asked");
      inst.kv_tokens_reserved -= kv_need(r);
      --mr.in_service;
      listener_.on_request_done(inst, slot);
    } else {
      inst.running[keep++] = slot;
    }
  }
  inst.running.resize(keep);
  if (listener_.on_batch_change(inst)) return;
  try_admit(inst);
}

}  // namespace sllm
