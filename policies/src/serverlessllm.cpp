// ServerlessLLM's startup-time-optimised placement (OSDI 2024, sections 3 and 6). For every server that
// can host the model, estimate its startup time and pick the minimum:
//  - free (or idle, reclaimable) GPUs: q + n/b, with q the server's loading-queue wait, n the checkpoint
//    bytes and b the bandwidth of the fastest tier holding the checkpoint there: the load's fair share
//    of the slowest link on that tier's path given the transfers already crossing it (the view's
//    estimate_load), plus pipeline fill and runtime initialisation;
//  - otherwise, with live migration on: the same plus the cost of migrating enough running inferences
//    away. Each candidate instance's cost is a * (input + output tokens so far, over its batch) + b plus
//    the load time (with its loading queue) at its best destination; a knapsack over the server's
//    running instances picks the set that frees enough GPUs at the least total cost. Migrations run in
//    parallel, so the startup estimate adds the slowest one. a and b come from the cost model (a: KV
//    recomputation time per token of a 1,024-token prefill on the server's GPUs; b: the final round's
//    recomputation of `stop_tokens` tokens) unless configured.
// Beyond the paper, and off by default so that the policy is the paper's: the optimisation applied again
// when GPUs free up (`replace_loads`): a load that requests wait for is abandoned when a start on the freed
// GPUs is estimated to be ready sooner (a remote load crawling through a shared uplink while a GPU frees on
// a server holding the checkpoint). docs/policies.md shows where it helps and where it costs.
// As in the paper, load estimates are refined from observed loads: per server and tier, the load part
// is scaled by a smoothed ratio of actual to estimated load time (contention on shared links shows up
// there); this applies to destination loads of migrations too.
// Ties: no migration first, then fewer warm instances lost, then the lower server id (deterministic).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>

#include "sllm/sim/policy.h"

namespace sllm {
namespace {

struct MigrationParams {
  bool enabled = true;
  MigrationConfig protocol;
  double a = -1;  // seconds per token; < 0: from the cost model
  double b = -1;  // seconds; < 0: from the cost model
};

class ServerlessLlmPolicy final : public SchedulingPolicy {
 public:
  explicit ServerlessLlmPolicy(const ConfigNode& params)
      : reclaim_idle_(params.get_bool("reclaim_idle", true)),
        refine_(params.get_bool("refine_estimates", true)),
        replace_loads_(params.get_bool("replace_loads", false)),
        smoothing_(params.get_double("estimate_smoothing", 0.5, 0.0, 1.0)) {
    if (auto m = params.optional_child("migration")) {
      // migration_ is default-constructed: its initialisers (and MigrationConfig's) are the defaults.
      migration_.enabled = m->get_bool("enabled", migration_.enabled);
      migration_.protocol.stop_tokens =
          static_cast<int>(m->get_int("stop_tokens", migration_.protocol.stop_tokens, 0, 1 << 20));
      migration_.protocol.max_rounds =
          static_cast<int>(m->get_int("max_rounds", migration_.protocol.max_rounds, 1, 1000));
      if (m->has("a")) migration_.a = to_seconds(m->get_duration("a"));
      if (m->has("b")) migration_.b = to_seconds(m->get_duration("b"));
      m->finish();
    }
  }

  bool may_preempt() const override { return migration_.enabled; }

  void on_load_finished(ServerId s, ModelId, Tier tier, Nanos estimated, Nanos actual) override {
    if (!refine_ || estimated <= 0 || tier == Tier::kWarm) return;
    if (s >= ratio_.size()) ratio_.resize(s + 1, {1.0, 1.0, 1.0});
    double& r = ratio_[s][static_cast<std::size_t>(tier)];
    r = (1.0 - smoothing_) * r + smoothing_ * static_cast<double>(actual) / static_cast<double>(estimated);
  }
  bool moves_need_spare_gpus() const override { return true; }
  bool may_replace_loads() const override { return replace_loads_; }

  // The start-up time optimisation applied again when GPUs free up: a loading instance is replaced
  // when a start on free or idle GPUs is estimated to be ready sooner than the load will be (the bytes
  // it already moved are spent either way). Migrations are not offered for a replacement.
  Decision replace_load(const ClusterView& view, InstanceId loading, Nanos ready_in,
                        std::span<const ServerId> spare) override {
    if (!replace_loads_) return Decision::wait();
    Decision best;
    if (!best_start_with_room(view, view.instance(loading).model, spare, best)) return Decision::wait();
    return best.estimated_startup < ready_in ? best : Decision::wait();
  }

  Decision place(const ClusterView& view, ModelId model) override {
    const std::uint32_t need = view.gpus_needed(model);
    Decision best;
    if (all_servers_.size() != view.server_count()) {
      all_servers_.resize(view.server_count());
      for (ServerId s = 0; s < view.server_count(); ++s) all_servers_[s] = s;
    }
    bool found = best_start_with_room(view, model, all_servers_, best);
    const auto consider = [&](Decision&& d) {
      if (!found || better(d, best)) {
        best = std::move(d);
        found = true;
      }
    };
    std::vector<ServerId>& busy = busy_;
    if (!migration_.enabled || busy.empty()) return found ? best : Decision::wait();
    // Pass 2: busy servers, freeing GPUs by live migration. Migration only adds time to a server's
    // own load estimate, so servers already slower than the best free placement are skipped first.
    const auto can_win = [&](ServerId s) { return !found || start(view, model, s).estimated_startup < best.estimated_startup; };
    std::erase_if(busy, [&](ServerId s) { return !can_win(s); });
    if (busy.empty()) return found ? best : Decision::wait();
    spare_.clear();  // destinations need free or idle GPUs
    for (ServerId s = 0; s < view.server_count(); ++s) {
      if (view.free_gpus(s) > 0 || (reclaim_idle_ && view.idle_gpus(s) > 0)) spare_.push_back(s);
    }
    if (spare_.empty()) return found ? best : Decision::wait();
    for (ServerId s : busy) {
      Decision d = start(view, model, s);
      if (found && d.estimated_startup >= best.estimated_startup) continue;  // `best` may have improved
      // Unload every idle instance here and migrate running ones for the rest.
      if (reclaim_idle_) d.unload_idle = view.idle_instances(s);
      std::uint32_t have = view.free_gpus(s);
      for (InstanceId i : d.unload_idle) have += view.instance(i).gpus;
      Nanos migration_time = 0;
      if (!plan_migrations(view, model, s, need - have, d.migrate, migration_time)) continue;
      d.estimated_startup += migration_time;
      consider(std::move(d));
    }
    return found ? best : Decision::wait();
  }

 private:
  Nanos scaled(ServerId s, Tier tier, Nanos load) const {
    if (s >= ratio_.size()) return load;
    return static_cast<Nanos>(static_cast<double>(load) * ratio_[s][static_cast<std::size_t>(tier)] + 0.5);
  }

  // Pass 1 of place(): the best start among `servers` (ascending ids) on one with enough free (or
  // reclaimable idle) GPUs, into `best`; false when none has room. Servers without room are left in
  // busy_. The unload plans, which cost an allocation each, are built only for the servers tied at the
  // least estimate.
  bool best_start_with_room(const ClusterView& view, ModelId model, std::span<const ServerId> servers,
                            Decision& best) {
    const std::uint32_t need = view.gpus_needed(model);
    busy_.clear();
    tied_.clear();
    Nanos least = 0;
    for (ServerId s : servers) {
      if (view.total_gpus(s) < need) continue;
      const std::uint32_t room = view.free_gpus(s) + (reclaim_idle_ ? view.idle_gpus(s) : 0);
      if (room < need) {
        busy_.push_back(s);
        continue;
      }
      const Nanos estimate = start(view, model, s).estimated_startup;
      if (tied_.empty() || estimate < least) {
        tied_.clear();
        least = estimate;
      }
      if (estimate == least) tied_.push_back(s);
    }
    bool found = false;
    for (ServerId s : tied_) {  // fewest warm instances lost, then the lower server id
      Decision d = start(view, model, s);
      if (view.free_gpus(s) < need) d.unload_idle = *reclaim_plan(view, s, need);
      if (!found || better(d, best)) {
        best = std::move(d);
        found = true;
      }
    }
    return found;
  }

  Decision start(const ClusterView& view, ModelId model, ServerId s) const {
    Decision d;
    d.action = Decision::Action::kStart;
    d.server = s;
    d.tier = view.best_tier(s, model);
    d.estimated_startup = view.loading_queue_wait(s) + scaled(s, d.tier, view.estimate_load(s, model, d.tier));
    return d;
  }

  static bool better(const Decision& x, const Decision& y) {
    if (x.estimated_startup != y.estimated_startup) return x.estimated_startup < y.estimated_startup;
    if (x.migrate.size() != y.migrate.size()) return x.migrate.size() < y.migrate.size();
    return x.unload_idle.size() < y.unload_idle.size();  // equal: keep the lower server id
  }

  struct Destination {
    ServerId server = kNone;
    Tier tier = Tier::kRemote;
    Nanos load = 0;
    std::vector<InstanceId> unload_idle;
  };

  // The fastest place to load `model` on a server other than `source`, given GPUs already promised
  // to earlier migrations of the same plan (`used`).
  std::optional<Destination> best_destination(const ClusterView& view, ModelId model, ServerId source,
                                              const std::vector<std::uint32_t>& used) const {
    std::optional<Destination> best;
    const std::uint32_t need = view.gpus_needed(model);
    for (ServerId d : spare_) {
      if (d == source) continue;
      std::optional<std::vector<InstanceId>> plan;
      if (view.free_gpus(d) >= need + used[d]) {
        plan.emplace();
      } else if (reclaim_idle_ && used[d] == 0) {
        plan = reclaim_plan(view, d, need);
      }
      if (!plan) continue;
      const Tier tier = view.best_tier(d, model);
      const Nanos load = view.loading_queue_wait(d) + scaled(d, tier, view.estimate_load(d, model, tier));
      if (!best || load < best->load) best = Destination{d, tier, load, std::move(*plan)};
    }
    return best;
  }

  // Seconds per recomputed token (a) and the resume cost (b) for `model` on `server`'s GPUs.
  std::pair<double, double> coefficients(const ClusterView& view, ModelId model, ServerId server) const {
    constexpr std::uint64_t kProbe = 1024;
    const double a = migration_.a >= 0 ? migration_.a
                                       : view.prefill_seconds(model, server, kProbe, double(kProbe) * kProbe) / kProbe;
    const auto stop = static_cast<std::uint64_t>(std::max(1, migration_.protocol.stop_tokens));
    const double b = migration_.b >= 0 ? migration_.b : view.prefill_seconds(model, server, stop, double(stop) * stop);
    return {a, b};
  }

  // Chooses running instances on `s` whose migration frees at least `deficit` GPUs at the least total
  // cost (0/1 knapsack cover over GPU counts), with a destination each. False when impossible.
  bool plan_migrations(const ClusterView& view, ModelId model, ServerId s, std::uint32_t deficit,
                       std::vector<MigrationOrder>& out, Nanos& slowest) {
    std::vector<MigrationItem>& items = items_;
    items.clear();
    // GPUs promised per destination server: none while candidates are ranked, then the chosen set's.
    std::vector<std::uint32_t>& used = promised_;
    used.assign(view.server_count(), 0);
    for (InstanceId i : view.instances_on(s)) {
      const InstanceInfo inst = view.instance(i);
      // Only decoding instances migrate; moving one of the model being placed would only add a load.
      if (!inst.movable || inst.phase != InstancePhase::kDecode || inst.model == model) continue;
      const auto dest = best_destination(view, inst.model, s, used);
      if (!dest) continue;
      double tokens = 0;
      for (const RequestProgress& p : view.progress(i)) tokens += p.input_tokens + p.generated;
      const auto [a, b] = coefficients(view, inst.model, s);
      const double recompute = a * tokens + b;
      items.push_back({i, inst.gpus, recompute, recompute + to_seconds(dest->load)});
      if (items.size() == 64) break;  // the chosen set is a 64-bit mask
    }
    // best[c]: least cost to free at least c GPUs (c capped at the deficit) and the set achieving it.
    constexpr double kInf = std::numeric_limits<double>::infinity();
    std::vector<double>& cost = cost_;
    cost.assign(std::size_t{deficit} + 1, kInf);
    cost[0] = 0.0;
    std::vector<std::uint64_t>& chosen = chosen_;
    chosen.assign(std::size_t{deficit} + 1, 0);
    for (std::size_t k = 0; k < items.size(); ++k) {
      for (std::uint32_t c = deficit + 1; c-- > 0;) {
        if (cost[c] == kInf) continue;
        const std::uint32_t to = std::min(deficit, c + items[k].gpus);
        if (cost[c] + items[k].cost < cost[to]) {
          cost[to] = cost[c] + items[k].cost;
          chosen[to] = chosen[c] | (std::uint64_t{1} << k);
        }
      }
    }
    if (cost[deficit] == kInf) return false;
    // Destinations for the chosen set together (two migrations may not count on the same free GPUs).
    slowest = 0;
    for (std::size_t k = 0; k < items.size(); ++k) {
      if (!(chosen[deficit] >> k & 1)) continue;
      const InstanceInfo inst = view.instance(items[k].instance);
      const auto dest = best_destination(view, inst.model, s, used);
      if (!dest) return false;
      used[dest->server] += items[k].gpus;
      MigrationOrder order;
      order.instance = items[k].instance;
      order.destination = dest->server;
      order.tier = dest->tier;
      order.unload_idle = dest->unload_idle;
      order.protocol = migration_.protocol;
      out.push_back(std::move(order));
      slowest = std::max(slowest, from_seconds(items[k].recompute) + dest->load);
    }
    return true;
  }

  bool reclaim_idle_;
  bool refine_;
  bool replace_loads_;
  double smoothing_;  // weight of the newest observation
  std::vector<std::array<double, 3>> ratio_;  // [server][remote, ssd, dram]: actual / estimated
  MigrationParams migration_;
  // Scratch of one place() call, kept to reuse its memory: servers without room, servers with free or
  // idle GPUs, and plan_migrations()'s candidates, knapsack table and promised GPUs.
  std::vector<ServerId> busy_, spare_, tied_, all_servers_;
  struct MigrationItem {
    InstanceId instance;
    std::uint32_t gpus;
    double recompute;  // seconds: a * tokens + b
    double cost;       // seconds: recompute + load at the best destination
  };
  std::vector<MigrationItem> items_;
  std::vector<double> cost_;
  std::vector<std::uint64_t> chosen_;
  std::vector<std::uint32_t> promised_;
};

std::unique_ptr<SchedulingPolicy> make(const ConfigNode& params) {
  return std::make_unique<ServerlessLlmPolicy>(params);
}

SLLM_REGISTER(SchedulingPolicy, "serverlessllm",
              "startup-time-optimised: minimise loading-queue wait + checkpoint bytes / best local tier bandwidth, "
              "live-migrating running inferences when that is faster",
              make);

}  // namespace
}  // namespace sllm
