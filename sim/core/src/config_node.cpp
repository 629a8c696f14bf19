#include "sllm/core/config_node.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "sllm/core/error.h"
#include "sllm/core/files.h"

namespace sllm {

// yaml-cpp nodes are handles: copying one refers to the same document.
struct ConfigNode::Node {
  YAML::Node yaml;
};

ConfigNode::ConfigNode(Node node, std::shared_ptr<Origin> origin, std::string path)
    : node_(std::make_unique<Node>(std::move(node))), origin_(std::move(origin)), path_(std::move(path)) {}

ConfigNode::ConfigNode(const ConfigNode& other)
    : node_(std::make_unique<Node>(*other.node_)),
      origin_(other.origin_),
      path_(other.path_),
      read_keys_(other.read_keys_) {}

// A moved-from node has no document: it may only be assigned to or destroyed.
ConfigNode::ConfigNode(ConfigNode&& other) noexcept = default;

ConfigNode& ConfigNode::operator=(const ConfigNode& other) {
  if (this != &other) *this = ConfigNode(other);
  return *this;
}

ConfigNode& ConfigNode::operator=(ConfigNode&& other) noexcept = default;

ConfigNode::~ConfigNode() = default;

bool ConfigNode::is_map() const { return node_->yaml.IsMap(); }
bool ConfigNode::is_sequence() const { return node_->yaml.IsSequence(); }
bool ConfigNode::is_scalar() const { return node_->yaml.IsScalar(); }

std::string ConfigNode::yaml_text() const {
  const YAML::Node& node = node_->yaml;
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

bool ConfigNode::overridden() const {
  for (const std::string& o : origin_->overrides) {
    if (path_.compare(0, o.size(), o) == 0 &&
        (path_.size() == o.size() || path_[o.size()] == '.' || path_[o.size()] == '[')) {
      return true;
    }
  }
  return false;
}

ConfigNode ConfigNode::load_file(const std::string& path) {
  return load_string(read_file_limited(path, kMaxMetadataFileBytes, "config file"), path);
}

namespace {
// yaml-cpp keeps every entry of a mapping that repeats a key, and lookups see only the first: a config
// that sets a key twice would silently lose the second value. Refused, naming the second occurrence. So
// is a key that is itself a mapping or list (YAML's complex keys), which no section reads by name.
// `file` names the document in errors ("--set key.path" for an override's value).
void reject_duplicate_keys(const YAML::Node& node, const std::string& file) {
  if (node.IsSequence()) {
    for (const YAML::Node& element : node) reject_duplicate_keys(element, file);
  } else if (node.IsMap()) {
    std::unordered_map<std::string, YAML::Mark> seen;
    for (const auto& kv : node) {
      if (kv.first.IsMap() || kv.first.IsSequence()) {
        const YAML::Mark mark = kv.first.Mark();
        throw InputError(file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1),
                         std::string("a key must be a name, not a ") + (kv.first.IsMap() ? "mapping" : "list"));
      }
      if (kv.first.IsScalar()) {
        const YAML::Mark mark = kv.first.Mark();
        const auto [first, inserted] = seen.emplace(kv.first.Scalar(), mark);
        if (!inserted) {
          throw InputError(file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1),
                           "duplicate key '" + kv.first.Scalar() + "' (first set at line " +
                               std::to_string(first->second.line + 1) + ")");
        }
      }
      reject_duplicate_keys(kv.second, file);
    }
  }
}
}  // namespace

ConfigNode ConfigNode::load_string(const std::string& text, const std::string& name) {
  try {
    YAML::Node root = YAML::Load(text);
    reject_duplicate_keys(root, name);
    if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    return ConfigNode(Node{root}, std::make_shared<Origin>(Origin{name, {}}), "");
  } catch (const YAML::Exception& e) {
    throw InputError(name + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1),
                     "YAML syntax error: " + e.msg);
  }
}

std::string ConfigNode::location() const {
  if (overridden()) return "set on the command line: " + path_;
  std::string where = origin_->file;
  const YAML::Mark mark = node_->yaml.Mark();
  if (mark.is_null() || mark.line < 0) {
    where += " (default)";
  } else {
    where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  if (!path_.empty()) where += ": " + path_;
  return where;
}

void ConfigNode::fail(const std::string& what) const { throw InputError(location(), what); }

std::string ConfigNode::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void ConfigNode::expect_map() const {
  if (!node_->yaml.IsMap()) fail("expected a mapping of keys to values");
}

bool ConfigNode::has(std::string_view key) const {
  const YAML::Node& node = node_->yaml;
  return node.IsMap() && node[std::string(key)].IsDefined() && !node[std::string(key)].IsNull();
}

ConfigNode ConfigNode::child(std::string_view key) const {
  expect_map();
  read_keys_.emplace(key);
  YAML::Node c = std::as_const(node_->yaml)[std::string(key)];
  if (!c.IsDefined() || c.IsNull()) fail("missing required key '" + std::string(key) + "'");
  return ConfigNode(Node{c}, origin_, child_path(key));
}

std::optional<ConfigNode> ConfigNode::optional_child(std::string_view key) const {
  expect_map();
  read_keys_.emplace(key);
  if (!has(key)) return std::nullopt;
  return ConfigNode(Node{std::as_const(node_->yaml)[std::string(key)]}, origin_, child_path(key));
}

std::vector<ConfigNode> ConfigNode::elements() const {
  const YAML::Node& node = node_->yaml;
  if (!node.IsSequence()) fail("expected a list");
  std::vector<ConfigNode> out;
  out.reserve(node.size());
  for (std::size_t i = 0; i < node.size(); ++i) {
    out.push_back(ConfigNode(Node{node[i]}, origin_, path_ + "[" + std::to_string(i) + "]"));
  }
  return out;
}

std::vector<std::string> ConfigNode::keys() const {
  expect_map();
  std::vector<std::string> out;
  for (const auto& kv : std::as_const(node_->yaml)) {
    out.push_back(kv.first.as<std::string>());
    read_keys_.insert(out.back());
  }
  return out;
}

std::string ConfigNode::scalar(std::string_view kind) const {
  const YAML::Node& node = node_->yaml;
  if (!node.IsScalar()) fail("expected " + std::string(kind) + ", got a " + (node.IsMap() ? "mapping" : "list"));
  return node.Scalar();
}

std::string ConfigNode::as_string() const { return scalar("a string"); }

std::int64_t ConfigNode::as_int(std::int64_t min, std::int64_t max) const {
  const std::string s = scalar("an integer");
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) fail("expected an integer, got '" + s + "'");
  if (v < min || v > max) {
    fail("value " + s + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

double ConfigNode::as_double(double min, double max) const {
  const std::string s = scalar("a number");
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    fail("expected a number, got '" + s + "'");
  }
  if (v < min || v > max) {
    std::ostringstream msg;
    msg << "value " << s << " is out of range [" << min << ", " << max << "]";
    fail(msg.str());
  }
  return v;
}

bool ConfigNode::as_bool() const {
  const std::string s = scalar("true or false");
  if (s == "true") return true;
  if (s == "false") return false;
  fail("expected true or false, got '" + s + "'");
}

#define SLLM_UNIT_GETTER(method, parser, kind)                 \
  auto ConfigNode::method() const -> decltype(parser("")) {    \
    const std::string s = scalar(kind);                        \
    try {                                                      \
      return parser(s);                                        \
    } catch (const std::invalid_argument& e) {                 \
      fail(e.what());                                          \
    }                                                          \
  }
SLLM_UNIT_GETTER(as_bytes, parse_bytes, "a size such as '32 MiB'")
SLLM_UNIT_GETTER(as_bandwidth, parse_bandwidth, "a bandwidth such as '12 GB/s'")
SLLM_UNIT_GETTER(as_duration, parse_duration, "a duration such as '300 s'")
SLLM_UNIT_GETTER(as_flops, parse_flops, "a compute rate such as '312 TFLOP/s'")
#undef SLLM_UNIT_GETTER

std::string ConfigNode::as_enum(std::initializer_list<std::string_view> choices) const {
  const std::string s = scalar("a name");
  std::string list;
  for (std::string_view c : choices) {
    if (s == c) return s;
    list += (list.empty() ? "'" : ", '") + std::string(c) + "'";
  }
  fail("unknown value '" + s + "' (expected one of " + list + ")");
}

ConfigNode ConfigNode::default_node(std::string_view key, std::string_view text) const {
  return ConfigNode(Node{YAML::Node(std::string(text))}, std::make_shared<Origin>(Origin{"<default>", {}}),
                    child_path(key));
}

std::string ConfigNode::get_string(std::string_view key, std::optional<std::string> def) const {
  if (auto c = optional_child(key)) return c->as_string();
  if (!def) child(key);  // throws "missing required key"
  return *def;
}

std::int64_t ConfigNode::get_int(std::string_view key, std::optional<std::int64_t> def, std::int64_t min,
                                 std::int64_t max) const {
  if (auto c = optional_child(key)) return c->as_int(min, max);
  if (!def) child(key);
  return *def;
}

double ConfigNode::get_double(std::string_view key, std::optional<double> def, double min, double max) const {
  if (auto c = optional_child(key)) return c->as_double(min, max);
  if (!def) child(key);
  return *def;
}

bool ConfigNode::get_bool(std::string_view key, std::optional<bool> def) const {
  if (auto c = optional_child(key)) return c->as_bool();
  if (!def) child(key);
  return *def;
}

#define SLLM_UNIT_KEYED(method, as_method, type)                                          \
  type ConfigNode::method(std::string_view key, std::optional<std::string_view> def) const { \
    if (auto c = optional_child(key)) return c->as_method();                             \
    if (!def) child(key);                                                                \
    return default_node(key, *def).as_method();                                          \
  }
SLLM_UNIT_KEYED(get_bytes, as_bytes, std::uint64_t)
SLLM_UNIT_KEYED(get_bandwidth, as_bandwidth, double)
SLLM_UNIT_KEYED(get_duration, as_duration, Nanos)
SLLM_UNIT_KEYED(get_flops, as_flops, double)
#undef SLLM_UNIT_KEYED

#define SLLM_UNIT_KEYED_TYPED(method, as_method, type)           \
  type ConfigNode::method(std::string_view key, type def) const { \
    if (auto c = optional_child(key)) return c->as_method();     \
    return def;                                                  \
  }
SLLM_UNIT_KEYED_TYPED(get_bytes, as_bytes, std::uint64_t)
SLLM_UNIT_KEYED_TYPED(get_bandwidth, as_bandwidth, double)
SLLM_UNIT_KEYED_TYPED(get_duration, as_duration, Nanos)
SLLM_UNIT_KEYED_TYPED(get_flops, as_flops, double)
#undef SLLM_UNIT_KEYED_TYPED

std::string ConfigNode::get_enum(std::string_view key, std::initializer_list<std::string_view> choices,
                                 std::optional<std::string_view> def) const {
  if (auto c = optional_child(key)) return c->as_enum(choices);
  if (!def) child(key);
  return std::string(*def);
}

void ConfigNode::finish() const {
  if (!node_->yaml.IsMap()) return;
  for (const auto& kv : std::as_const(node_->yaml)) {
    const std::string key = kv.first.as<std::string>();
    if (read_keys_.count(key)) continue;
    std::string known;
    for (const std::string& k : read_keys_) known += (known.empty() ? "" : ", ") + k;
    ConfigNode bad(Node{kv.first}, origin_, child_path(key));
    bad.fail("unknown key '" + key + "'" + (known.empty() ? "" : " (expected one of: " + known + ")"));
  }
}

void ConfigNode::apply_override(std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw InputError("--set " + std::string(assignment), "expected key.path=value");
  }
  const std::string key_path(assignment.substr(0, eq));
  origin_->overrides.push_back(key_path);
  const std::string value_text(assignment.substr(eq + 1));
  YAML::Node value;
  try {
    value = YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    throw InputError("--set " + key_path, "value is not valid YAML: " + e.msg);
  }
  reject_duplicate_keys(value, "--set " + key_path);
  // yaml-cpp nodes are handles: walking with operator[] on non-const nodes creates missing keys.
  YAML::Node cur;
  cur.reset(node_->yaml);
  std::vector<std::pair<std::string, long>> steps;  // (key, index or -1)
  std::string token;
  std::stringstream ss(key_path);
  while (std::getline(ss, token, '.')) {
    long index = -1;
    const auto br = token.find('[');
    if (br != std::string::npos) {
      if (token.back() != ']') throw InputError("--set " + key_path, "bad index in '" + token + "'");
      // Digits only: std::stol threw a bare "stol" for "[x]" and read "[1x]" as 1.
      const std::string digits = token.substr(br + 1, token.size() - br - 2);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || index < 0) {
        throw InputError("--set " + key_path,
                         "index '" + digits + "' in '" + token + "' is not a non-negative integer");
      }
      token = token.substr(0, br);
    }
    if (token.empty()) throw InputError("--set " + key_path, "empty key in path");
    steps.emplace_back(token, index);
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& [key, index] = steps[i];
    const bool last = i + 1 == steps.size();
    if (cur.IsDefined() && !cur.IsNull() && !cur.IsMap()) {
      throw InputError("--set " + key_path, "'" + key + "' is not inside a mapping");
    }
    YAML::Node next = cur[key];
    if (index >= 0) {
      if (!next.IsSequence() || index >= static_cast<long>(next.size())) {
        throw InputError("--set " + key_path, "'" + key + "' has no element " + std::to_string(index));
      }
      YAML::Node elem = next[static_cast<std::size_t>(index)];
      if (last) {
        next[static_cast<std::size_t>(index)] = value;
      }
      cur.reset(elem);
    } else {
      if (last) {
        cur[key] = value;
      }
      cur.reset(next);
    }
  }
}

}  // namespace sllm
