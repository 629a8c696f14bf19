// Strict reading of YAML configs. Every value is read through a ConfigNode, which knows its file and
// key path, so each error names "file:line:column: key.path: what was expected". Keys never read are
// errors (finish()), so a typo cannot silently fall back to a default.
// The YAML parser (yaml-cpp) stays behind this class: including this header does not include it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/core/units.h"

namespace sllm {

class ConfigNode {
 public:
  // Parses a file; a YAML syntax error becomes an InputError naming file:line:column.
  static ConfigNode load_file(const std::string& path);
  static ConfigNode load_string(const std::string& text, const std::string& name);
  // A copy refers to the same document (an override applied through one is seen by all) and keeps its
  // own record of the keys read.
  ConfigNode(const ConfigNode& other);
  ConfigNode(ConfigNode&& other) noexcept;
  ConfigNode& operator=(const ConfigNode& other);
  ConfigNode& operator=(ConfigNode&& other) noexcept;
  ~ConfigNode();

  // Applies "key.path=value" (value parsed as YAML, so lists and maps work); creates missing keys.
  // Sequence elements are addressed as key[3]. Errors name the override.
  void apply_override(std::string_view assignment);

  const std::string& path() const { return path_; }
  // The config file this node came from (relative paths in a config are relative to its directory).
  const std::string& file() const { return origin_->file; }
  bool is_map() const;
  bool is_sequence() const;
  bool is_scalar() const;
  bool has(std::string_view key) const;
  // This value as --set takes it: a scalar's text as written, a list or mapping in YAML flow style.
  std::string yaml_text() const;

  // Children. child() requires the key; the others return nullopt / the default when it is absent.
  ConfigNode child(std::string_view key) const;
  std::optional<ConfigNode> optional_child(std::string_view key) const;
  std::vector<ConfigNode> elements() const;  // this node must be a sequence
  std::vector<std::string> keys() const;     // this node must be a map (marks all keys read)

  // Scalars of this node.
  std::string as_string() const;
  std::int64_t as_int(std::int64_t min, std::int64_t max) const;
  double as_double(double min, double max) const;
  bool as_bool() const;
  std::uint64_t as_bytes() const;
  double as_bandwidth() const;
  Nanos as_duration() const;
  double as_flops() const;
  std::string as_enum(std::initializer_list<std::string_view> choices) const;

  // Keyed scalars with defaults (the common case in section parsers).
  std::string get_string(std::string_view key, std::optional<std::string> def = {}) const;
  std::int64_t get_int(std::string_view key, std::optional<std::int64_t> def, std::int64_t min,
                       std::int64_t max) const;
  double get_double(std::string_view key, std::optional<double> def, double min, double max) const;
  bool get_bool(std::string_view key, std::optional<bool> def = {}) const;
  std::uint64_t get_bytes(std::string_view key, std::optional<std::string_view> def = {}) const;
  double get_bandwidth(std::string_view key, std::optional<std::string_view> def = {}) const;
  Nanos get_duration(std::string_view key, std::optional<std::string_view> def = {}) const;
  double get_flops(std::string_view key, std::optional<std::string_view> def = {}) const;
  std::string get_enum(std::string_view key, std::initializer_list<std::string_view> choices,
                       std::optional<std::string_view> def = {}) const;
  // Unit-bearing values with a typed default, so a default can live in one place (a struct member's
  // initialiser) and be passed from there instead of being written again as text.
  std::uint64_t get_bytes(std::string_view key, std::uint64_t def) const;
  double get_bandwidth(std::string_view key, double def) const;
  Nanos get_duration(std::string_view key, Nanos def) const;
  double get_flops(std::string_view key, double def) const;

  // Rejects keys of this map that no getter asked for, listing the ones that were.
  void finish() const;

  // Throws InputError located at this node.
  [[noreturn]] void fail(const std::string& what) const;
  std::string location() const;

 private:
  std::string child_path(std::string_view key) const;
  // A default written as text goes through the same parser as the config would, so units stay in one place.
  ConfigNode default_node(std::string_view key, std::string_view text) const;
  void expect_map() const;
  std::string scalar(std::string_view kind) const;

  // Shared by a root and all nodes read from it: the file name and the key paths set by --set, so a
  // bad overridden value is reported as coming from the command line, not from a line of the file.
  struct Origin {
    std::string file;
    std::vector<std::string> overrides;
  };
  struct Node;  // the yaml-cpp node (config_node.cpp)
  ConfigNode(Node node, std::shared_ptr<Origin> origin, std::string path);
  bool overridden() const;

  std::unique_ptr<Node> node_;
  std::shared_ptr<Origin> origin_;
  std::string path_;
  mutable std::set<std::string, std::less<>> read_keys_;
};

}  // namespace sllm
