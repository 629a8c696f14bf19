// Policies written in Python: the policy API (sllm/sim/policy.h) as Python classes, and registration of
// a Python class under a name in the scheduling or keep-alive registry, so that YAML selects it as it
// would a C++ policy. docs/python.md describes the surface.
//
// The interpreter's lock: the simulator runs without it (a run and a sweep release it), and every call
// into a Python policy takes it for the duration of the call. A sweep's points therefore simulate in
// parallel and take turns inside Python code; nothing waits for the lock while holding another one.
#pragma once

#include <stdexcept>

#include <pybind11/pybind11.h>

namespace sllm::python {

// A Python policy raised (or returned something that is not a decision): the policy's name, the method,
// the Python exception and its traceback as text. Text, because it must cross threads that do not hold
// the interpreter's lock, which Python objects may not.
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Classes of the policy API (Tier, InstancePhase, InstanceInfo, RequestProgress, ClusterView, Decision,
// MigrationOrder, Params) and the functions register_policy and registered_policies.
void bind_policy_api(pybind11::module_& m, pybind11::handle input_error);

}  // namespace sllm::python
