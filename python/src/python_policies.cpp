#include "python_policies.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pybind11/stl.h>

#include "sllm/core/config_node.h"
#include "sllm/core/error.h"
#include "sllm/sim/policy.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace sllm::python {
namespace {

py::handle g_input_error;  // sllmsim.InputError (owned by the module)

// What a Python object may read only during the call it was passed to (the cluster as of one policy
// call, a policy's YAML section during its constructor). Python may keep the object; using it after
// the call raises instead of reading what no longer exists.
template <class T>
class Window {
 public:
  Window(const T& target, const char* what) : target_(&target), what_(what) {}
  void close() { target_ = nullptr; }
  const T& get() const {
    if (target_ == nullptr) {
      throw std::runtime_error(std::string(what_) + " is valid only during the call it was passed to");
    }
    return *target_;
  }

 private:
  const T* target_;
  const char* what_;
};

// The ClusterView as Python sees it: ids are checked (a C++ policy's bad id is a bug in the policy; a
// Python one's must not crash the interpreter).
class View {
 public:
  explicit View(const ClusterView& view) : window_(view, "a ClusterView") {}
  void close() { window_.close(); }
  const ClusterView& get() const { return window_.get(); }

  ServerId server(std::int64_t s) const {
    if (!valid_server(s)) {
      throw py::index_error("server " + std::to_string(s) + " does not exist (servers are 0.." +
                            std::to_string(static_cast<std::int64_t>(get().server_count()) - 1) + ")");
    }
    return static_cast<ServerId>(s);
  }
  ModelId model(std::int64_t m) const {
    if (m < 0 || m >= get().model_count()) {
      throw py::index_error("model " + std::to_string(m) + " does not exist (models are 0.." +
                            std::to_string(static_cast<std::int64_t>(get().model_count()) - 1) + ")");
    }
    return static_cast<ModelId>(m);
  }
  InstanceId instance(std::int64_t i) const {
    if (!alive(i)) {
      throw py::index_error("instance " + std::to_string(i) +
                            " is not alive (ids come from instances_on() and idle_instances())");
    }
    return static_cast<InstanceId>(i);
  }

  bool valid_server(std::int64_t s) const { return s >= 0 && s < get().server_count(); }
  bool alive(std::int64_t i) const {
    if (!alive_known_) {  // once per view: the instances of every server
      for (ServerId s = 0; s < get().server_count(); ++s) {
        const auto on = get().instances_on(s);
        alive_.insert(alive_.end(), on.begin(), on.end());
      }
      std::sort(alive_.begin(), alive_.end());
      alive_known_ = true;
    }
    return i >= 0 && std::binary_search(alive_.begin(), alive_.end(), static_cast<InstanceId>(i));
  }

 private:
  Window<ClusterView> window_;
  mutable std::vector<InstanceId> alive_;
  mutable bool alive_known_ = false;
};

// A policy's YAML section, read as a C++ policy reads it: typed getters with defaults, errors located at
// file:line:column and key path, and keys that nothing read rejected after construction.
class Params {
 public:
  explicit Params(const ConfigNode& node) : window_(node, "Params") {}
  void close() { window_.close(); }
  const ConfigNode& get() const { return window_.get(); }

 private:
  Window<ConfigNode> window_;
};

// A handle given to Python for one call, closed when the call returns.
template <class Handle>
class Lent {
 public:
  template <class T>
  explicit Lent(const T& target) : handle_(std::make_shared<Handle>(target)), object_(py::cast(handle_)) {}
  ~Lent() { handle_->close(); }
  Lent(const Lent&) = delete;
  Lent& operator=(const Lent&) = delete;
  const py::object& object() const { return object_; }
  const Handle& handle() const { return *handle_; }

 private:
  std::shared_ptr<Handle> handle_;
  py::object object_;
};

std::string type_name(const py::handle& o) { return py::str(py::type::of(o).attr("__qualname__")).cast<std::string>(); }

[[noreturn]] void policy_error(const std::string& policy, const char* method, const std::string& what) {
  throw PolicyError("Python policy '" + policy + "': " + method + ": " + what);
}

// Runs `body` (a call into the Python policy `policy`) holding the interpreter's lock; a Python exception
// becomes a PolicyError carrying its text and traceback.
template <class Body>
auto call_python(const std::string& policy, const char* method, Body&& body) {
  py::gil_scoped_acquire gil;
  try {
    return body();
  } catch (py::error_already_set& e) {
    policy_error(policy, method, e.what());
  } catch (const py::cast_error& e) {
    policy_error(policy, method, e.what());
  }
}

// What a scheduling method returned, as a Decision: None waits; the ids a start names must exist, so that
// the simulator's own checks of the decision never index past its tables.
Decision to_decision(const py::object& r, const View& view, const std::string& policy, const char* method) {
  if (r.is_none()) return Decision::wait();
  if (!py::isinstance<Decision>(r)) {
    policy_error(policy, method, "returned a " + type_name(r) + ", expected a sllmsim.Decision or None");
  }
  Decision d = r.cast<Decision>();
  if (d.action != Decision::Action::kStart) return d;
  const auto bad = [&](const std::string& what) { policy_error(policy, method, "the decision names " + what); };
  if (!view.valid_server(d.server)) bad("server " + std::to_string(d.server) + ", which does not exist");
  const auto check_alive = [&](const std::vector<InstanceId>& ids, const char* list) {
    for (InstanceId i : ids) {
      if (!view.alive(i)) bad("instance " + std::to_string(i) + " in " + list + ", which is not alive");
    }
  };
  check_alive(d.unload_idle, "unload_idle");
  check_alive(d.preempt, "preempt");
  for (const MigrationOrder& o : d.migrate) {
    check_alive({o.instance}, "migrate");
    check_alive(o.unload_idle, "a migration's unload_idle");
    if (!view.valid_server(o.destination)) {
      bad("migration destination " + std::to_string(o.destination) + ", which does not exist");
    }
  }
  return d;
}

// A duration a keep-alive method returned: an int of nanoseconds >= 0, or None.
std::optional<Nanos> to_duration(const py::object& r, const std::string& policy, const char* method) {
  if (r.is_none()) return std::nullopt;
  if (!py::isinstance<py::int_>(r) || py::isinstance<py::bool_>(r)) {
    policy_error(policy, method, "returned a " + type_name(r) + ", expected an int (nanoseconds) or None");
  }
  const auto ns = r.cast<std::int64_t>();
  if (ns < 0) policy_error(policy, method, "returned " + std::to_string(ns) + " ns, expected >= 0");
  return ns;
}

// The optional hooks and flags a Python policy class may define (read once, when it is created).
py::object optional_method(const py::object& self, const char* name) {
  return py::hasattr(self, name) ? self.attr(name) : py::object();
}
bool flag(const py::object& self, const char* name, const std::string& policy) {
  if (!py::hasattr(self, name)) return false;
  py::object v = self.attr(name);
  if (PyCallable_Check(v.ptr())) v = v();
  if (!py::isinstance<py::bool_>(v)) policy_error(policy, name, "is a " + type_name(v) + ", expected a bool");
  return v.cast<bool>();
}

class PythonScheduling final : public SchedulingPolicy {
 public:
  // Called holding the interpreter's lock.
  PythonScheduling(std::string name, py::object self)
      : name_(std::move(name)),
        may_preempt_(flag(self, "may_preempt", name_)),
        moves_need_spare_gpus_(flag(self, "moves_need_spare_gpus", name_)) {
    py_.place = self.attr("place");
    py_.replace_load = optional_method(self, "replace_load");
    py_.on_load_finished = optional_method(self, "on_load_finished");
    py_.self = std::move(self);
  }
  ~PythonScheduling() override {
    py::gil_scoped_acquire gil;
    py_ = {};
  }
  PythonScheduling(const PythonScheduling&) = delete;
  PythonScheduling& operator=(const PythonScheduling&) = delete;

  Decision place(const ClusterView& view, ModelId model) override {
    return call_python(name_, "place()", [&] {
      const Lent<View> v(view);
      return to_decision(py_.place(v.object(), model), v.handle(), name_, "place()");
    });
  }

  Decision replace_load(const ClusterView& view, InstanceId loading, Nanos ready_in,
                        std::span<const ServerId> spare) override {
    if (!py_.replace_load) return Decision::wait();
    return call_python(name_, "replace_load()", [&] {
      const Lent<View> v(view);
      const std::vector<ServerId> servers(spare.begin(), spare.end());
      return to_decision(py_.replace_load(v.object(), loading, ready_in, servers), v.handle(), name_,
                         "replace_load()");
    });
  }

  void on_load_finished(ServerId server, ModelId model, Tier tier, Nanos estimated, Nanos actual) override {
    if (!py_.on_load_finished) return;
    call_python(name_, "on_load_finished()", [&] { py_.on_load_finished(server, model, tier, estimated, actual); });
  }

  bool may_preempt() const override { return may_preempt_; }
  bool moves_need_spare_gpus() const override { return moves_need_spare_gpus_; }

 private:
  struct Objects {
    py::object self, place, replace_load, on_load_finished;
  };
  std::string name_;
  bool may_preempt_, moves_need_spare_gpus_;
  Objects py_;
};

class PythonKeepAlive final : public KeepAlivePolicy {
 public:
  PythonKeepAlive(std::string name, py::object self) : name_(std::move(name)) {
    py_.keep_alive = self.attr("keep_alive");
    py_.on_request = optional_method(self, "on_request");
    py_.prewarm_delay = optional_method(self, "prewarm_delay");
    py_.self = std::move(self);
  }
  ~PythonKeepAlive() override {
    py::gil_scoped_acquire gil;
    py_ = {};
  }
  PythonKeepAlive(const PythonKeepAlive&) = delete;
  PythonKeepAlive& operator=(const PythonKeepAlive&) = delete;

  void on_request(ModelId model, Nanos now) override {
    if (!py_.on_request) return;
    call_python(name_, "on_request()", [&] { py_.on_request(model, now); });
  }
  Nanos keep_alive(ModelId model, Nanos now) override {
    return call_python(name_, "keep_alive()", [&] {
      return to_duration(py_.keep_alive(model, now), name_, "keep_alive()").value_or(kNever);
    });
  }
  std::optional<Nanos> prewarm_delay(ModelId model, Nanos now) override {
    if (!py_.prewarm_delay) return std::nullopt;
    return call_python(name_, "prewarm_delay()",
                       [&] { return to_duration(py_.prewarm_delay(model, now), name_, "prewarm_delay()"); });
  }

 private:
  struct Objects {
    py::object self, keep_alive, on_request, prewarm_delay;
  };
  std::string name_;
  Objects py_;
};

// The Python classes registered under each name. Never destroyed: registry entries outlive the
// interpreter, and a Python object must not be released after it has shut down. Used with the
// interpreter's lock held.
template <class Base>
std::map<std::string, py::object>& python_classes() {
  static auto* classes = new std::map<std::string, py::object>();
  return *classes;
}

template <class Base, class Wrapper>
std::unique_ptr<Base> create(const std::string& name, const char* kind, const ConfigNode& params) {
  py::gil_scoped_acquire gil;
  const py::object cls = python_classes<Base>().at(name);
  try {
    const Lent<Params> p(params);
    return std::make_unique<Wrapper>(name, cls(p.object()));
  } catch (py::error_already_set& e) {
    // The Python policy's own params.get_*/fail() errors are already located at their key.
    if (e.matches(g_input_error)) throw InputError(py::str(e.value()).cast<std::string>());
    params.fail("the Python " + std::string(kind) + " '" + name + "' could not be created: " + e.what());
  }
}

template <class Base, class Wrapper>
void add(const std::string& name, py::object cls, const std::string& summary) {
  auto& registry = Registry<Base>::instance();
  auto& classes = python_classes<Base>();
  if (registry.contains(name) && classes.count(name) == 0) {
    throw py::value_error("'" + name + "' is a built-in " + std::string(Base::kKind) + "; choose another name");
  }
  classes[name] = std::move(cls);  // a class registered again replaces the earlier one (a re-run cell)
  registry.add(name, [name](const ConfigNode& params) { return create<Base, Wrapper>(name, Base::kKind, params); },
               summary);
}

void register_policy(const std::string& kind, const std::string& name, py::object cls, const std::string& summary) {
  if (name.empty()) throw py::value_error("a policy needs a name");
  if (!PyCallable_Check(cls.ptr())) throw py::type_error("register_policy() takes a class, got a " + type_name(cls));
  if (kind == "scheduling") {
    add<SchedulingPolicy, PythonScheduling>(name, std::move(cls), summary);
  } else if (kind == "keep_alive") {
    add<KeepAlivePolicy, PythonKeepAlive>(name, std::move(cls), summary);
  } else {
    throw py::value_error("kind must be 'scheduling' or 'keep_alive', not '" + kind + "'");
  }
}

template <class Base>
py::dict listing() {
  py::dict out;
  for (const auto& [name, summary] : Registry<Base>::instance().list()) out[py::str(name)] = summary;
  return out;
}

// A getter's default given from Python as None (required), an int (the value, in the getter's unit) or
// a string (parsed like the config, units written out).
template <class T, class Getter>
T with_default(const ConfigNode& node, const std::string& key, const py::object& def, Getter&& getter) {
  if (def.is_none()) return getter(node, key, std::optional<std::string_view>());
  if (py::isinstance<py::str>(def)) {
    const std::string text = def.cast<std::string>();
    return getter(node, key, std::optional<std::string_view>(text));
  }
  return getter(node, key, def.cast<T>());
}

void bind_enums(py::module_& module) {
  py::enum_<Tier>(module, "Tier", "Where a checkpoint is loaded from, slow to fast (WARM: already on the GPUs).")
      .value("REMOTE", Tier::kRemote)
      .value("SSD", Tier::kSsd)
      .value("DRAM", Tier::kDram)
      .value("WARM", Tier::kWarm);
  py::enum_<InstancePhase>(module, "InstancePhase", "What an instance is doing.")
      .value("LOADING", InstancePhase::kLoading)
      .value("IDLE", InstancePhase::kIdle)
      .value("PREFILL", InstancePhase::kPrefill)
      .value("DECODE", InstancePhase::kDecode)
      .value("HANDOFF", InstancePhase::kHandoff);
}

void bind_values(py::module_& module) {
  py::class_<InstanceInfo>(module, "InstanceInfo", "An instance as a policy sees it (ClusterView.instance()).")
      .def_readonly("model", &InstanceInfo::model)
      .def_readonly("server", &InstanceInfo::server)
      .def_readonly("phase", &InstanceInfo::phase)
      .def_readonly("gpus", &InstanceInfo::gpus, "GPUs it holds on its server")
      .def_readonly("movable", &InstanceInfo::movable, "serving and not migrating: may be preempted or migrated")
      .def("__repr__", [](const InstanceInfo& i) {
        return "InstanceInfo(model=" + std::to_string(i.model) + ", server=" + std::to_string(i.server) +
               ", phase=" + py::repr(py::cast(i.phase)).cast<std::string>() + ", gpus=" + std::to_string(i.gpus) +
               ", movable=" + (i.movable ? "True" : "False") + ")";
      });
  py::class_<RequestProgress>(module, "RequestProgress", "A request an instance serves (ClusterView.progress()).")
      .def_readonly("id", &RequestProgress::id)
      .def_readonly("input_tokens", &RequestProgress::input_tokens)
      .def_readonly("output_tokens", &RequestProgress::output_tokens, "the target")
      .def_readonly("generated", &RequestProgress::generated, "produced so far")
      .def_readonly("preemptions", &RequestProgress::preemptions);

  const MigrationOrder no_order;
  py::class_<MigrationOrder>(module, "MigrationOrder",
                             "Move running instance `instance` live to `destination` (Decision.start(migrate=...)).")
      .def(py::init([](InstanceId instance, ServerId destination, Tier tier, std::vector<InstanceId> unload_idle,
                       int stop_tokens, int max_rounds) {
             MigrationOrder o;
             o.instance = instance;
             o.destination = destination;
             o.tier = tier;
             o.unload_idle = std::move(unload_idle);
             o.protocol.stop_tokens = stop_tokens;
             o.protocol.max_rounds = max_rounds;
             return o;
           }),
           "instance"_a, "destination"_a, "tier"_a = no_order.tier, py::kw_only(),
           "unload_idle"_a = std::vector<InstanceId>(), "stop_tokens"_a = no_order.protocol.stop_tokens,
           "max_rounds"_a = no_order.protocol.max_rounds)
      .def_readonly("instance", &MigrationOrder::instance)
      .def_readonly("destination", &MigrationOrder::destination)
      .def_readonly("tier", &MigrationOrder::tier)
      .def_readonly("unload_idle", &MigrationOrder::unload_idle)
      .def_property_readonly("stop_tokens", [](const MigrationOrder& o) { return o.protocol.stop_tokens; })
      .def_property_readonly("max_rounds", [](const MigrationOrder& o) { return o.protocol.max_rounds; });
}

void bind_decision(py::module_& module) {
  const Decision none;
  py::class_<Decision> decision(module, "Decision",
                                "What a scheduling policy decides: Decision.start(...), Decision.wait() (or None), "
                                "Decision.reject().");
  py::enum_<Decision::Action>(decision, "Action")
      .value("START", Decision::Action::kStart)
      .value("WAIT", Decision::Action::kWait)
      .value("REJECT", Decision::Action::kReject);
  decision
      .def_static(
          "start",
          [](ServerId server, Tier tier, std::vector<InstanceId> unload_idle, std::vector<InstanceId> preempt,
             std::vector<MigrationOrder> migrate, Nanos estimated_startup, bool populate_dram, bool populate_ssd,
             Nanos extra_startup) {
            Decision d;
            d.action = Decision::Action::kStart;
            d.server = server;
            d.tier = tier;
            d.unload_idle = std::move(unload_idle);
            d.preempt = std::move(preempt);
            d.migrate = std::move(migrate);
            d.estimated_startup = estimated_startup;
            d.load.populate_dram = populate_dram;
            d.load.populate_ssd = populate_ssd;
            d.load.extra_startup = extra_startup;
            return d;
          },
          "server"_a, "tier"_a = none.tier, py::kw_only(), "unload_idle"_a = std::vector<InstanceId>(),
          "preempt"_a = std::vector<InstanceId>(), "migrate"_a = std::vector<MigrationOrder>(),
          "estimated_startup"_a = none.estimated_startup, "populate_dram"_a = none.load.populate_dram,
          "populate_ssd"_a = none.load.populate_ssd, "extra_startup"_a = none.load.extra_startup,
          "Start an instance on `server`, loading from `tier`, after unloading the idle instances `unload_idle` "
          "and stopping `preempt` (their requests restart) there, and moving `migrate` away live. Times in ns.")
      .def_static("wait", &Decision::wait, "No placement now: asked again when resources change.")
      .def_static("reject", &Decision::reject, "Never placeable: the model's waiting requests are rejected.")
      .def_readonly("action", &Decision::action)
      .def_readonly("server", &Decision::server)
      .def_readonly("tier", &Decision::tier)
      .def_readonly("unload_idle", &Decision::unload_idle)
      .def_readonly("preempt", &Decision::preempt)
      .def_readonly("migrate", &Decision::migrate)
      .def_readonly("estimated_startup", &Decision::estimated_startup)
      .def_property_readonly("populate_dram", [](const Decision& d) { return d.load.populate_dram; })
      .def_property_readonly("populate_ssd", [](const Decision& d) { return d.load.populate_ssd; })
      .def_property_readonly("extra_startup", [](const Decision& d) { return d.load.extra_startup; })
      .def("__repr__", [](const Decision& d) {
        if (d.action == Decision::Action::kWait) return std::string("Decision.wait()");
        if (d.action == Decision::Action::kReject) return std::string("Decision.reject()");
        return "Decision.start(server=" + std::to_string(d.server) + ", tier=" +
               py::repr(py::cast(d.tier)).cast<std::string>() + ", unload_idle=" +
               py::repr(py::cast(d.unload_idle)).cast<std::string>() + ", preempt=" +
               py::repr(py::cast(d.preempt)).cast<std::string>() + ", migrations=" + std::to_string(d.migrate.size()) +
               ")";
      });
}

void bind_view(py::module_& module) {
  py::class_<View, std::shared_ptr<View>>(
      module, "ClusterView",
      "The cluster as a policy sees it at one instant, valid only during the policy call it is passed to. "
      "Servers are 0..server_count()-1, models 0..model_count()-1; instance ids come from instances_on() and "
      "idle_instances(). Times are int nanoseconds, bandwidths bytes/s.")
      .def("server_count", [](const View& v) { return v.get().server_count(); })
      .def("total_gpus", [](const View& v, std::int64_t s) { return v.get().total_gpus(v.server(s)); }, "server"_a)
      .def("free_gpus", [](const View& v, std::int64_t s) { return v.get().free_gpus(v.server(s)); }, "server"_a)
      .def("idle_gpus", [](const View& v, std::int64_t s) { return v.get().idle_gpus(v.server(s)); }, "server"_a,
           "GPUs held by idle instances (reclaimable through Decision.start(unload_idle=...))")
      .def("idle_instances", [](const View& v, std::int64_t s) { return v.get().idle_instances(v.server(s)); },
           "server"_a, "by id")
      .def(
          "instances_on",
          [](const View& v, std::int64_t s) {
            const auto on = v.get().instances_on(v.server(s));
            return std::vector<InstanceId>(on.begin(), on.end());
          },
          "server"_a, "alive instances, in no particular order")
      .def("loading_queue_wait", [](const View& v, std::int64_t s) { return v.get().loading_queue_wait(v.server(s)); },
           "server"_a, "estimated ns until the server's queued and running loads finish")
      .def("holds", [](const View& v, std::int64_t s, std::int64_t m, Tier t) {
             return v.get().holds(v.server(s), v.model(m), t);
           }, "server"_a, "model"_a, "tier"_a)
      .def("best_tier", [](const View& v, std::int64_t s, std::int64_t m) {
             return v.get().best_tier(v.server(s), v.model(m));
           }, "server"_a, "model"_a, "the fastest of DRAM, SSD, REMOTE holding the model's checkpoint")
      .def("estimate_load", [](const View& v, std::int64_t s, std::int64_t m, Tier t) {
             return v.get().estimate_load(v.server(s), v.model(m), t);
           }, "server"_a, "model"_a, "tier"_a, "ns a load of the model from the tier takes on the server")
      .def("tier_bandwidth", [](const View& v, std::int64_t s, Tier t, std::uint32_t gpus) {
             return v.get().tier_bandwidth(v.server(s), t, gpus);
           }, "server"_a, "tier"_a, "gpus"_a)
      .def("model_count", [](const View& v) { return v.get().model_count(); })
      .def("gpus_needed", [](const View& v, std::int64_t m) { return v.get().gpus_needed(v.model(m)); }, "model"_a,
           "GPUs per instance")
      .def("checkpoint_bytes", [](const View& v, std::int64_t m) { return v.get().checkpoint_bytes(v.model(m)); },
           "model"_a)
      .def("waiting_preemptions", [](const View& v, std::int64_t m) { return v.get().waiting_preemptions(v.model(m)); },
           "model"_a)
      .def("prefill_seconds", [](const View& v, std::int64_t m, std::int64_t s, std::uint64_t tokens, double squares) {
             return v.get().prefill_seconds(v.model(m), v.server(s), tokens, squares);
           }, "model"_a, "server"_a, "tokens"_a, "squares"_a)
      .def("instance", [](const View& v, std::int64_t i) { return v.get().instance(v.instance(i)); }, "instance"_a)
      .def("progress", [](const View& v, std::int64_t i) { return v.get().progress(v.instance(i)); }, "instance"_a)
      .def(
          "reclaim_plan",
          [](const View& v, std::int64_t s, std::uint32_t needed) { return reclaim_plan(v.get(), v.server(s), needed); },
          "server"_a, "needed"_a,
          "the idle instances to unload so that `needed` GPUs are free on the server, or None when free and idle "
          "GPUs are not enough");
}

void bind_params(py::module_& module) {
  const auto min_int = std::numeric_limits<std::int64_t>::min(), max_int = std::numeric_limits<std::int64_t>::max();
  const double inf = std::numeric_limits<double>::infinity();
  py::class_<Params, std::shared_ptr<Params>>(
      module, "Params",
      "A policy's YAML section, given to its constructor and valid only there. Getters take a default (None: the "
      "key is required); units are written out in YAML ('30 s', '10 GB'). Keys the constructor did not read are "
      "rejected, as for a C++ policy.")
      .def("has", [](const Params& p, const std::string& key) { return p.get().has(key); }, "key"_a)
      .def("location", [](const Params& p) { return p.get().location(); })
      .def("fail", [](const Params& p, const std::string& what) { p.get().fail(what); }, "message"_a,
           "raise InputError located at this section")
      .def("get_string", [](const Params& p, const std::string& key, std::optional<std::string> def) {
             return p.get().get_string(key, std::move(def));
           }, "key"_a, "default"_a = py::none())
      .def("get_int", [](const Params& p, const std::string& key, std::optional<std::int64_t> def, std::int64_t lo,
                         std::int64_t hi) { return p.get().get_int(key, def, lo, hi); },
           "key"_a, "default"_a = py::none(), "min"_a = min_int, "max"_a = max_int)
      .def("get_double", [](const Params& p, const std::string& key, std::optional<double> def, double lo, double hi) {
             return p.get().get_double(key, def, lo, hi);
           }, "key"_a, "default"_a = py::none(), "min"_a = -inf, "max"_a = inf)
      .def("get_bool", [](const Params& p, const std::string& key, std::optional<bool> def) {
             return p.get().get_bool(key, def);
           }, "key"_a, "default"_a = py::none())
      .def("get_duration", [](const Params& p, const std::string& key, const py::object& def) {
             return with_default<Nanos>(p.get(), key, def,
                                        [](const ConfigNode& n, const std::string& k, auto d) { return n.get_duration(k, d); });
           }, "key"_a, "default"_a = py::none(), "int nanoseconds; the default as int ns or text ('30 s')")
      .def("get_bytes", [](const Params& p, const std::string& key, const py::object& def) {
             return with_default<std::uint64_t>(p.get(), key, def,
                                                [](const ConfigNode& n, const std::string& k, auto d) { return n.get_bytes(k, d); });
           }, "key"_a, "default"_a = py::none(), "bytes; the default as int or text ('10 GB')")
      .def("get_bandwidth", [](const Params& p, const std::string& key, const py::object& def) {
             return with_default<double>(p.get(), key, def,
                                         [](const ConfigNode& n, const std::string& k, auto d) { return n.get_bandwidth(k, d); });
           }, "key"_a, "default"_a = py::none(), "bytes/s; the default as a number or text ('10 Gbps')")
      .def("get_enum", [](const Params& p, const std::string& key, const std::vector<std::string>& choices,
                          std::optional<std::string> def) {
             const ConfigNode& node = p.get();
             if (!node.has(key) && def) return *def;
             const ConfigNode value = node.child(key);
             const std::string s = value.as_string();
             if (std::find(choices.begin(), choices.end(), s) != choices.end()) return s;
             std::string list;
             for (const std::string& c : choices) list += (list.empty() ? "'" : ", '") + c + "'";
             value.fail("unknown value '" + s + "' (expected one of " + list + ")");
           }, "key"_a, "choices"_a, "default"_a = py::none());
}

}  // namespace

void bind_policy_api(py::module_& m, py::handle input_error) {
  g_input_error = input_error;
  bind_enums(m);
  bind_values(m);
  bind_decision(m);
  bind_view(m);
  bind_params(m);
  m.def("register_policy", &register_policy, "kind"_a, "name"_a, "cls"_a, "summary"_a,
        "Register a Python policy class under `name` in the 'scheduling' or 'keep_alive' registry.");
  m.def("registered_policies", [] {
    py::dict out;
    out["scheduling"] = listing<SchedulingPolicy>();
    out["keep_alive"] = listing<KeepAlivePolicy>();
    out["eviction"] = listing<EvictionPolicy>();
    return out;
  });
}

}  // namespace sllm::python
