// Errors that reach the user. InputError means "what you gave me is wrong" (config, trace, checkpoint,
// CLI flag): the CLI prints it and exits with status 2. Anything else is a failure of the run (exit 1).
#pragma once

#include <stdexcept>
#include <string>

namespace sllm {

class InputError : public std::runtime_error {
 public:
  // `where` is a location a user can act on: "configs/a.yaml:12:5: cluster.servers[0].gpus",
  // "trace.csv:1042:3", "ckpt/part-0.bin tensor 'lm_head.weight'". `what` says what was expected.
  InputError(const std::string& where, const std::string& what)
      : std::runtime_error(where.empty() ? what : where + ": " + what) {}
  explicit InputError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace sllm
