#include "timeline.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "sllm/core/files.h"
#include "sllm/sim/loading.h"

namespace sllm {

namespace {

// splitmix64: a fixed mix of the request id, so that the sample does not depend on arrival order.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Appends printf-style text to `out` (one bounded stack buffer; no allocation beyond `out` growing).
template <class... Args>
void put(std::string& out, const char* fmt, Args... args) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, fmt, args...);
  out.append(buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf - 1)));
}

// Microseconds with nanosecond precision, as the trace format wants them (t >= 0).
void put_us(std::string& out, Nanos t) {
  put(out, "%" PRId64 ".%03" PRId64, t / 1000, t % 1000);
}

// Names written into JSON strings come from the config: escape what JSON requires.
void put_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      put(out, "\\u%04x", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

TimelineRecorder::TimelineRecorder(const ClusterState& state, const TimelineSpec& spec)
    : st_(state), spec_(spec), link_rate_(state.topology().link_count(), 0.0) {
  events_.reserve(1 << 20);
}

bool TimelineRecorder::sampled(std::uint64_t id, double share) {
  if (share >= 1.0) return true;
  return static_cast<double>(mix(id) >> 11) < share * 9007199254740992.0;  // top 53 bits vs share * 2^53
}

Nanos TimelineRecorder::clip(Nanos t) const {
  t = std::max(t, spec_.start);
  return spec_.end >= 0 ? std::min(t, spec_.end) : t;
}

bool TimelineRecorder::room() {
  if (events_written_ >= spec_.max_events) {
    ++events_dropped_;
    return false;
  }
  ++events_written_;
  return true;
}

void TimelineRecorder::close_span(const Instance& inst, GpuPhase next, Nanos now) {
  const PhaseTracker::Span span = phases_.change(inst, next, now);
  if (span.phase == GpuPhase::kOff || span.end <= span.start || !inside(span.start, span.end)) return;
  const Nanos a = clip(span.start), b = clip(span.end);
  if (b <= a) return;
  const ModelRuntime& mr = st_.models[inst.model];
  // A load cancelled for a sooner start elsewhere (load replacement) never got ready: its instance ends
  // while loading, its load already gone. Named apart, so that it does not read as a load that finished.
  const bool abandoned = span.phase == GpuPhase::kLoading && next == GpuPhase::kOff && inst.load == kNone;
  for (std::uint32_t g : inst.gpus) {
    if (!room()) return;
    put(events_, "{\"name\":\"%s\",\"ph\":\"X\",\"pid\":%u,\"tid\":%u,\"ts\":",
        abandoned ? "loading (abandoned)" : to_string(span.phase),
        static_cast<unsigned>(inst.server), static_cast<unsigned>(g));
    put_us(events_, a);
    events_ += ",\"dur\":";
    put_us(events_, b - a);
    events_ += ",\"args\":{\"model\":";
    put_string(events_, mr.deployed->name);
    put(events_, ",\"instance\":%u", static_cast<unsigned>(inst.id));
    if (span.phase == GpuPhase::kLoading) {
      put(events_, ",\"tier\":\"%s\",\"bytes\":%" PRIu64, to_string(inst.loaded_from),
          static_cast<std::uint64_t>(mr.deployed->checkpoint_bytes));
    }
    events_ += "}},\n";
  }
}

void TimelineRecorder::on_instance_phase(const Instance& inst, Nanos now) {
  const GpuPhase next = phase_of(inst);
  if (next != phases_.phase(inst.id)) close_span(inst, next, now);  // a decode segment after another: one slice
}

void TimelineRecorder::on_instance_ended(const Instance& inst, Nanos now) { close_span(inst, GpuPhase::kOff, now); }

void TimelineRecorder::async(char ph, const char* name, std::uint64_t id, Nanos t) {  // counted by the caller
  put(events_, "{\"name\":\"%s\",\"cat\":\"request\",\"ph\":\"%c\",\"id\":%" PRIu64 ",\"pid\":%zu,\"tid\":0,\"ts\":",
      name, ph, id, st_.servers.size() + 1);
  put_us(events_, clip(t));
  events_ += "},\n";
}

void TimelineRecorder::on_request_finished(const RequestState& r, Nanos now) {
  if (!inside(r.spec.arrival, now) || !sampled(r.spec.id, spec_.request_sample)) return;
  // The whole request at once (all its times are known now): request > queued, prefill, decode. All of
  // its events or none, so that every begin has its end even when the bound is reached.
  const std::uint64_t needed = 4 + (r.service_start >= 0 ? 2 : 0) + (r.first_token >= 0 ? 2 : 0);
  if (events_written_ + needed > spec_.max_events) {
    events_dropped_ += needed;
    return;
  }
  events_written_ += needed;
  put(events_, "{\"name\":\"request\",\"cat\":\"request\",\"ph\":\"b\",\"id\":%" PRIu64
               ",\"pid\":%zu,\"tid\":0,\"ts\":",
      r.spec.id, st_.servers.size() + 1);
  put_us(events_, clip(r.spec.arrival));
  put(events_, ",\"args\":{\"request\":%" PRIu64 ",\"model\":", r.spec.id);
  put_string(events_, st_.models[r.spec.model].deployed->name);
  put(events_, ",\"outcome\":\"%s\",\"input_tokens\":%u,\"output_tokens\":%u}},\n", to_string(r.outcome),
      static_cast<unsigned>(r.spec.input_tokens), static_cast<unsigned>(r.spec.output_tokens));
  const Nanos served = r.service_start >= 0 ? r.service_start : now;
  async('b', "queued", r.spec.id, r.spec.arrival);
  async('e', "queued", r.spec.id, served);
  if (r.service_start >= 0) {
    const Nanos first = r.first_token >= 0 ? r.first_token : now;
    async('b', "prefill", r.spec.id, r.service_start);
    async('e', "prefill", r.spec.id, first);
    if (r.first_token >= 0) {
      async('b', "decode", r.spec.id, r.first_token);
      async('e', "decode", r.spec.id, now);
    }
  }
  async('e', "request", r.spec.id, now);
}

void TimelineRecorder::write_link(LinkId l, Nanos ts, double rate) {
  if (!room()) return;
  events_ += "{\"name\":";
  put_string(events_, st_.topology().link(l).name);
  put(events_, ",\"ph\":\"C\",\"pid\":%zu,\"tid\":0,\"ts\":", st_.servers.size());
  put_us(events_, ts);
  put(events_, ",\"args\":{\"bytes_per_s\":%.6g}},\n", rate);
}

void TimelineRecorder::on_flows_changed(const FlowNetwork& flows, Nanos now) {
  if (spec_.end >= 0 && now > spec_.end) return;
  const auto links = static_cast<LinkId>(link_rate_.size());
  if (now < spec_.start) {  // remember the rates, to write the ones in force when the window opens
    for (LinkId l = 0; l < links; ++l) link_rate_[l] = flows.link_rate(l);
    return;
  }
  if (!links_open_) {
    for (LinkId l = 0; l < links; ++l) {
      if (link_rate_[l] != 0.0) write_link(l, spec_.start, link_rate_[l]);
    }
    links_open_ = true;
  }
  for (LinkId l = 0; l < links; ++l) {
    const double rate = flows.link_rate(l);
    if (rate == link_rate_[l]) continue;
    link_rate_[l] = rate;
    write_link(l, now, rate);
  }
}

void TimelineRecorder::on_decision(const Decision& d, ModelId model, Nanos now) {
  if (!inside(now, now) || !room()) return;
  put(events_, "{\"name\":\"place\",\"ph\":\"i\",\"s\":\"p\",\"pid\":%u,\"tid\":0,\"ts\":", static_cast<unsigned>(d.server));
  put_us(events_, now);
  events_ += ",\"args\":{\"model\":";
  put_string(events_, st_.models[model].deployed->name);
  put(events_, ",\"server\":%u,\"tier\":\"%s\",\"estimated_startup_s\":%.6f,\"unload_idle\":%zu,"
               "\"preempt\":%zu,\"migrate\":%zu}},\n",
      static_cast<unsigned>(d.server), to_string(d.tier), to_seconds(d.estimated_startup), d.unload_idle.size(),
      d.preempt.size(), d.migrate.size());
}

void TimelineRecorder::finish(Nanos end, const std::string& dir) {
  // Close what is still open at the end of the run (busy or idle GPUs at the horizon).
  for (const Instance& inst : st_.instances) {
    if (inst.alive()) close_span(inst, GpuPhase::kOff, end);
  }
  std::string out;
  out.reserve(events_.size() + 4096);
  out += "{\"displayTimeUnit\":\"ms\",\n\"otherData\":{";
  put(out, "\"window_start_s\":%.9f,\"window_end_s\":%.9f,\"request_sample\":%.6g,\"events\":%" PRIu64
           ",\"events_dropped\":%" PRIu64 "},\n\"traceEvents\":[\n",
      to_seconds(spec_.start), to_seconds(spec_.end >= 0 ? spec_.end : end), spec_.request_sample, events_written_,
      events_dropped_);
  // Metadata: names and order of the tracks.
  for (const Server& s : st_.servers) {
    put(out, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":0,\"args\":{\"name\":\"server %u\"}},\n",
        static_cast<unsigned>(s.id), static_cast<unsigned>(s.id));
    put(out, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%u,\"tid\":0,\"args\":{\"sort_index\":%u}},\n",
        static_cast<unsigned>(s.id), static_cast<unsigned>(s.id));
    for (std::uint32_t g = 0; g < s.gpu_vertex.size(); ++g) {
      put(out, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":%u,\"args\":{\"name\":\"GPU %u\"}},\n",
          static_cast<unsigned>(s.id), g, g);
    }
  }
  const std::size_t n = st_.servers.size();
  put(out, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%zu,\"tid\":0,\"args\":{\"name\":\"links\"}},\n", n);
  put(out, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%zu,\"tid\":0,\"args\":{\"sort_index\":%zu}},\n", n,
      n);
  put(out, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%zu,\"tid\":0,\"args\":{\"name\":\"requests\"}},\n", n + 1);
  put(out, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%zu,\"tid\":0,\"args\":{\"sort_index\":%zu}}", n + 1,
      n + 1);
  if (!events_.empty()) out += ",\n";
  // events_ ends in ",\n": drop the last separator.
  out.append(events_, 0, events_.empty() ? 0 : events_.size() - 2);
  out += "\n]}\n";
  write_file_atomically(dir, "timeline.json", out);
}

}  // namespace sllm
