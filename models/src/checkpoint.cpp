#include "sllm/models/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include "checked_math.h"
#include "chunk_hash.h"
#include "file_io.h"
#include "json.h"
#include "sllm/models/tensor.h"
#include "sllm/core/error.h"
#include "sllm/core/files.h"

namespace sllm::models {

namespace fs = std::filesystem;

std::uint64_t CheckpointIndex::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& p : partitions) total += p.bytes;
  return total;
}

std::string CheckpointIndex::tensors_in(int partition, std::uint64_t begin, std::uint64_t end) const {
  std::vector<std::string> names;
  std::size_t count = 0;
  for (const auto& t : tensors) {
    if (t.partition != partition || t.bytes == 0) continue;
    if (t.offset < end && t.offset + t.bytes > begin) {
      if (names.size() < 4) names.push_back("'" + t.name + "'");
      ++count;
    }
  }
  if (count == 0) return "padding only, no tensor";
  std::string out = count == 1 ? "tensor " : "tensors ";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  if (count > names.size()) out += " and " + std::to_string(count - names.size()) + " more";
  return out;
}

namespace {

std::vector<std::int64_t> contiguous_strides(const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> strides(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

std::uint64_t align_up(std::uint64_t v) { return (v + kCheckpointAlignment - 1) / kCheckpointAlignment * kCheckpointAlignment; }

// Reads index fields strictly: every member must be consumed, wrong kinds name the field.
class IndexReader {
 public:
  explicit IndexReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw InputError(file_ + ": " + field, what);
  }
  const json::Value& member(const json::Value& obj, const std::string& key, const std::string& path) const {
    const json::Value* v = obj.get(key);
    if (!v) fail(path, "missing key '" + key + "'");
    return *v;
  }
  void only_keys(const json::Value& obj, std::initializer_list<std::string_view> keys, const std::string& path) const {
    for (const auto& [k, v] : obj.members()) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) fail(path + "." + k, "unknown key");
    }
  }
  std::uint64_t u64(const json::Value& obj, const std::string& key, const std::string& path) const {
    const json::Value& v = member(obj, key, path);
    if (!v.is_unsigned()) fail(path + "." + key, "expected a non-negative integer");
    return v.as_unsigned();
  }
  const std::string& str(const json::Value& obj, const std::string& key, const std::string& path) const {
    const json::Value& v = member(obj, key, path);
    if (!v.is_string()) fail(path + "." + key, "expected a string");
    return v.str();
  }
  const json::Value& arr(const json::Value& obj, const std::string& key, const std::string& path) const {
    const json::Value& v = member(obj, key, path);
    if (!v.is_array()) fail(path + "." + key, "expected an array");
    return v;
  }
  const json::Value& object(const json::Value& v, const std::string& path) const {
    if (!v.is_object()) fail(path, std::string("expected an object, got ") + std::string(json::kind_name(v.kind())));
    return v;
  }
  std::vector<std::int64_t> dims(const json::Value& obj, const std::string& key, const std::string& path) const {
    std::vector<std::int64_t> out;
    const json::Value& a = arr(obj, key, path);
    for (std::size_t i = 0; i < a.items().size(); ++i) {
      const json::Value& d = a.items()[i];
      if (!d.is_signed() || d.as_signed() < 0) fail(path + "." + key + "[" + std::to_string(i) + "]", "expected a non-negative integer");
      out.push_back(d.as_signed());
    }
    return out;
  }

 private:
  std::string file_;
};

bool plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// A partition that exists but is a FIFO, device or directory would block or never end a read: refused
// when the index is opened. A missing one is left to verify and load, which report what it held.
void refuse_special_partition(const std::string& path, const std::string& where) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw InputError(path, where + " is not a regular file (a FIFO, device or directory cannot hold a partition)");
  }
}

constexpr std::size_t kIndexDigits = 16;

// XXH64 (seed 0) of index.json's bytes with the 16 digits of index_xxh64, which start at `digits`, read
// as ASCII '0's: the checksum covers every other byte of the file, whitespace included.
std::uint64_t index_digest(std::string_view text, std::size_t digits) {
  static constexpr char kZeros[kIndexDigits + 1] = "0000000000000000";
  XXH64_state_t state{};
  XXH64_reset(&state, 0);
  XXH64_update(&state, text.data(), digits);
  XXH64_update(&state, kZeros, kIndexDigits);
  XXH64_update(&state, text.data() + digits + kIndexDigits, text.size() - digits - kIndexDigits);
  return XXH64_digest(&state);
}

// Checks a version 2 index's own checksum before anything in it is trusted.
void check_index_digest(const IndexReader& r, const json::Value& root, std::string_view text) {
  const json::Value& stored = r.member(root, "index_xxh64", "");
  std::uint64_t want = 0;
  // Plain digits, no escapes: the checksum addresses them in the raw text.
  if (!stored.is_string() || !parse_hex64(stored.str(), &want) ||
      text.substr(stored.offset(), kIndexDigits + 2) != "\"" + stored.str() + "\"") {
    r.fail("index_xxh64", "expected 16 lowercase hex digits");
  }
  const std::uint64_t got = index_digest(text, stored.offset() + 1);
  if (got != want) {
    r.fail("index_xxh64", "the index is damaged: its bytes hash to " + hex64(got) + ", the index says " + hex64(want));
  }
}

}  // namespace

Checkpoint open_checkpoint(const std::string& dir) {
  const std::string path = dir + "/" + kCheckpointIndexFile;
  const std::string text = read_file_limited(path, kMaxMetadataFileBytes, "checkpoint index");
  json::Value root;
  try {
    root = json::parse(text);
  } catch (const std::invalid_argument& e) {
    throw InputError(path, std::string("malformed JSON: ") + e.what());
  }
  const IndexReader r(path);
  r.object(root, "(root)");
  Checkpoint ck;
  ck.dir = dir;
  CheckpointIndex& idx = ck.index;
  const std::uint64_t version = r.u64(root, "version", "");
  if (version != 1 && version != kCheckpointVersion) {
    r.fail("version", "unsupported format version " + std::to_string(version) + " (this build reads versions 1 and " +
                          std::to_string(kCheckpointVersion) + ")");
  }
  idx.version = static_cast<int>(version);
  if (version == 1) {
    // So a version 2 index whose version digit is damaged into 1 cannot skip its checksum.
    if (root.get("index_xxh64")) r.fail("index_xxh64", "unknown key in a version 1 index");
  } else {
    check_index_digest(r, root, text);
  }
  r.only_keys(root, {"format", "version", "alignment", "checksum", "model", "partitions", "tensors", "aliases", "index_xxh64"}, "");
  if (r.str(root, "format", "") != "sllm-checkpoint") r.fail("format", "expected \"sllm-checkpoint\"");
  if (r.u64(root, "alignment", "") != kCheckpointAlignment) r.fail("alignment", "expected 4096");
  const json::Value& checksum = r.object(r.member(root, "checksum", ""), "checksum");
  r.only_keys(checksum, {"algorithm", "seed", "chunk_bytes"}, "checksum");
  if (r.str(checksum, "algorithm", "checksum") != "xxh64") r.fail("checksum.algorithm", "expected \"xxh64\"");
  if (r.u64(checksum, "seed", "checksum") != 0) r.fail("checksum.seed", "expected 0");
  idx.checksum_chunk = r.u64(checksum, "chunk_bytes", "checksum");
  if (idx.checksum_chunk == 0 || idx.checksum_chunk % kCheckpointAlignment != 0 || idx.checksum_chunk > kMaxChecksumChunk) {
    r.fail("checksum.chunk_bytes", "expected a positive multiple of 4096, at most " + std::to_string(kMaxChecksumChunk));
  }
  if (root.get("model")) idx.model = r.str(root, "model", "");

  const json::Value& parts = r.arr(root, "partitions", "");
  if (parts.items().empty()) r.fail("partitions", "expected at least one partition");
  std::set<std::string> files;
  std::uint64_t total_bytes = 0;
  for (std::size_t i = 0; i < parts.items().size(); ++i) {
    const std::string where = "partitions[" + std::to_string(i) + "]";
    const json::Value& p = r.object(parts.items()[i], where);
    r.only_keys(p, {"file", "bytes", "chunk_xxh64"}, where);
    CheckpointPartition part;
    part.file = r.str(p, "file", where);
    if (!plain_file_name(part.file)) r.fail(where + ".file", "expected a plain file name inside the checkpoint directory");
    if (!files.insert(part.file).second) r.fail(where + ".file", "file listed twice");
    part.bytes = r.u64(p, "bytes", where);
    if (part.bytes % kCheckpointAlignment != 0) r.fail(where + ".bytes", "expected a multiple of 4096");
    const auto total = checked_add(total_bytes, part.bytes);
    if (!total || *total > kMaxCheckpointBytes) {
      r.fail(where + ".bytes", "the partitions hold more than " + std::to_string(kMaxCheckpointBytes) + " bytes in all");
    }
    total_bytes = *total;
    const json::Value& sums = r.arr(p, "chunk_xxh64", where);
    const std::uint64_t expected_chunks = ceil_div(part.bytes, idx.checksum_chunk);
    if (sums.items().size() != expected_chunks) {
      r.fail(where + ".chunk_xxh64", "expected " + std::to_string(expected_chunks) + " checksums (bytes / chunk_bytes, rounded up), got " +
                                         std::to_string(sums.items().size()));
    }
    for (std::size_t k = 0; k < sums.items().size(); ++k) {
      std::uint64_t v = 0;
      if (!sums.items()[k].is_string() || !parse_hex64(sums.items()[k].str(), &v)) {
        r.fail(where + ".chunk_xxh64[" + std::to_string(k) + "]", "expected 16 lowercase hex digits");
      }
      part.chunk_xxh64.push_back(v);
    }
    refuse_special_partition(dir + "/" + part.file, where);
    idx.partitions.push_back(std::move(part));
  }

  std::set<std::string, std::less<>> names;
  const json::Value& tensors = r.arr(root, "tensors", "");
  for (std::size_t i = 0; i < tensors.items().size(); ++i) {
    const std::string where = "tensors[" + std::to_string(i) + "]";
    const json::Value& t = r.object(tensors.items()[i], where);
    r.only_keys(t, {"name", "dtype", "shape", "strides", "partition", "offset", "bytes"}, where);
    CheckpointTensor ct;
    ct.name = r.str(t, "name", where);
    const std::string& dtype = r.str(t, "dtype", where);
    if (!parse_dtype(dtype, &ct.dtype) || to_string(ct.dtype) != dtype) {
      r.fail(where + ".dtype", "unknown dtype '" + dtype + "' (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)");
    }
    ct.shape = r.dims(t, "shape", where);
    const auto bytes = checked_tensor_bytes(ct.shape, dtype_size(ct.dtype));
    if (!bytes) r.fail(where + ".shape", "element count, strides or bytes do not fit in 64 bits");
    ct.strides = r.dims(t, "strides", where);
    if (ct.strides != contiguous_strides(ct.shape)) r.fail(where + ".strides", "expected row-major contiguous strides for the shape");
    const std::uint64_t partition = r.u64(t, "partition", where);
    if (partition >= idx.partitions.size()) r.fail(where + ".partition", "no such partition");
    ct.partition = static_cast<int>(partition);
    ct.offset = r.u64(t, "offset", where);
    ct.bytes = r.u64(t, "bytes", where);
    if (ct.offset % kCheckpointAlignment != 0) r.fail(where + ".offset", "expected a multiple of 4096");
    if (ct.bytes != *bytes) r.fail(where + ".bytes", "disagrees with dtype and shape");
    const auto end = checked_add(ct.offset, ct.bytes);
    if (!end || *end > idx.partitions[partition].bytes) {
      r.fail(where, "offset " + std::to_string(ct.offset) + " + bytes " + std::to_string(ct.bytes) + " extends past the end of its partition (" +
                        std::to_string(idx.partitions[partition].bytes) + " bytes)");
    }
    if (!names.insert(ct.name).second) r.fail(where + ".name", "duplicate tensor name '" + ct.name + "'");
    idx.tensors.push_back(std::move(ct));
  }
  std::sort(idx.tensors.begin(), idx.tensors.end(), [](const CheckpointTensor& a, const CheckpointTensor& b) {
    return std::tie(a.partition, a.offset, a.bytes) < std::tie(b.partition, b.offset, b.bytes);
  });
  for (std::size_t i = 1; i < idx.tensors.size(); ++i) {
    const auto& a = idx.tensors[i - 1];
    const auto& b = idx.tensors[i];
    // Sorted, so b.offset >= a.offset; both ends were checked against the partition above.
    if (a.partition == b.partition && a.bytes > 0 && b.bytes > 0 && a.bytes > b.offset - a.offset) {
      r.fail("tensors", "'" + a.name + "' and '" + b.name + "' overlap (aliases must be listed under \"aliases\")");
    }
  }
  if (const json::Value* aliases = root.get("aliases")) {
    if (!aliases->is_array()) r.fail("aliases", "expected an array");
    for (std::size_t i = 0; i < aliases->items().size(); ++i) {
      const std::string where = "aliases[" + std::to_string(i) + "]";
      const json::Value& a = r.object(aliases->items()[i], where);
      r.only_keys(a, {"name", "target"}, where);
      CheckpointAlias alias{r.str(a, "name", where), r.str(a, "target", where)};
      if (!names.insert(alias.name).second) r.fail(where + ".name", "duplicate tensor name '" + alias.name + "'");
      if (std::none_of(idx.tensors.begin(), idx.tensors.end(), [&](const CheckpointTensor& t) { return t.name == alias.target; })) {
        r.fail(where + ".target", "no stored tensor named '" + alias.target + "'");
      }
      idx.aliases.push_back(std::move(alias));
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    std::error_code ec;
    const std::string canonical = fs::weakly_canonical(dir, ec).string();
    const std::string id = canonical + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
                           std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_size);
    ck.identity = XXH64(id.data(), id.size(), 0);
  }
  return ck;
}

std::string index_to_json(const CheckpointIndex& idx) {
  std::string out = "{\n  \"format\": \"sllm-checkpoint\",\n  \"version\": " + std::to_string(kCheckpointVersion) +
                    ",\n  \"alignment\": " + std::to_string(kCheckpointAlignment) +
                    ",\n  \"checksum\": {\"algorithm\": \"xxh64\", \"seed\": 0, \"chunk_bytes\": " +
                    std::to_string(idx.checksum_chunk) + "},\n";
  if (!idx.model.empty()) out += "  \"model\": " + json::quote(idx.model) + ",\n";
  out += "  \"partitions\": [";
  for (std::size_t i = 0; i < idx.partitions.size(); ++i) {
    const auto& p = idx.partitions[i];
    out += std::string(i ? "," : "") + "\n    {\"file\": " + json::quote(p.file) + ", \"bytes\": " + std::to_string(p.bytes) +
           ", \"chunk_xxh64\": [";
    for (std::size_t k = 0; k < p.chunk_xxh64.size(); ++k) out += std::string(k ? ", " : "") + "\"" + hex64(p.chunk_xxh64[k]) + "\"";
    out += "]}";
  }
  out += "\n  ],\n  \"tensors\": [";
  auto dims = [](const std::vector<std::int64_t>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  for (std::size_t i = 0; i < idx.tensors.size(); ++i) {
    const auto& t = idx.tensors[i];
    out += std::string(i ? "," : "") + "\n    {\"name\": " + json::quote(t.name) + ", \"dtype\": \"" + std::string(to_string(t.dtype)) +
           "\", \"shape\": " + dims(t.shape) + ", \"strides\": " + dims(t.strides) + ", \"partition\": " +
           std::to_string(t.partition) + ", \"offset\": " + std::to_string(t.offset) + ", \"bytes\": " + std::to_string(t.bytes) + "}";
  }
  out += "\n  ],\n  \"aliases\": [";
  for (std::size_t i = 0; i < idx.aliases.size(); ++i) {
    out += std::string(i ? "," : "") + "\n    {\"name\": " + json::quote(idx.aliases[i].name) + ", \"target\": " +
           json::quote(idx.aliases[i].target) + "}";
  }
  out += "\n  ],\n  \"index_xxh64\": \"";
  // Sealed last: the digest is computed with its own digits read as zeros, then written over them.
  const std::size_t digits = out.size();
  out += std::string(kIndexDigits, '0') + "\"\n}\n";
  out.replace(digits, kIndexDigits, hex64(index_digest(out, digits)));
  return out;
}

std::vector<int> assign_partitions(const std::vector<std::string>& names, const std::vector<std::uint64_t>& bytes, int partitions) {
  if (partitions < 1) throw InputError("--tp", "expected at least 1 partition");
  // Group = the name up to and including its first all-digit component ("model.layers.12.").
  auto group_of = [](const std::string& name) {
    std::size_t start = 0;
    while (start < name.size()) {
      std::size_t end = name.find('.', start);
      if (end == std::string::npos) end = name.size();
      if (end > start && std::all_of(name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(end),
                                     [](char c) { return c >= '0' && c <= '9'; })) {
        return name.substr(0, end);
      }
      start = end + 1;
    }
    return name;
  };
  std::uint64_t total = 0;
  for (auto b : bytes) total += b;
  std::vector<int> out(names.size(), 0);
  int p = 0;
  std::uint64_t before = 0;  // bytes assigned before the current group
  std::string current;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string g = group_of(names[i]);
    if (i == 0 || g != current) {
      current = g;
      // Move on once this partition holds its share; the last one takes the rest.
      while (p < partitions - 1 && before >= total / static_cast<std::uint64_t>(partitions) * static_cast<std::uint64_t>(p + 1)) ++p;
    }
    out[i] = p;
    before += bytes[i];
  }
  return out;
}

struct CheckpointWriter::PartitionFile {
  std::string path;
  FileHandle fd;
  std::uint64_t offset = 0;
  ChunkHasher hasher;
};

CheckpointWriter::CheckpointWriter(std::string dir, int partitions, std::uint64_t checksum_chunk, std::string model)
    : dir_(std::move(dir)) {
  if (partitions < 1) throw InputError("--tp", "expected at least 1 partition");
  if (checksum_chunk == 0 || checksum_chunk % kCheckpointAlignment != 0 || checksum_chunk > kMaxChecksumChunk) {
    throw InputError("--checksum-chunk", "expected a positive multiple of 4 KiB, at most 1 GiB");
  }
  std::error_code ec;
  if (fs::exists(dir_, ec) && !(fs::is_directory(dir_, ec) && fs::is_empty(dir_, ec))) {
    throw InputError(dir_, "output exists and is not an empty directory (refusing to overwrite)");
  }
  index_.checksum_chunk = checksum_chunk;
  index_.model = std::move(model);
  // Same parent so the final rename is atomic.
  std::string parent = fs::path(dir_).parent_path().string();
  if (parent.empty()) parent = ".";
  std::mt19937_64 rng(std::random_device{}());
  tmp_dir_ = parent + "/." + fs::path(dir_).filename().string() + ".tmp-" + hex64(rng()).substr(0, 8);
  if (!fs::create_directories(tmp_dir_, ec)) throw std::runtime_error(tmp_dir_ + ": cannot create directory: " + ec.message());
  for (int p = 0; p < partitions; ++p) {
    const std::string file = "part-" + std::to_string(p) + ".bin";
    PartitionFile pf{tmp_dir_ + "/" + file, FileHandle(::open((tmp_dir_ + "/" + file).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)),
                     0, ChunkHasher(checksum_chunk)};
    if (!pf.fd) throw std::runtime_error(errno_message(pf.path, "cannot create", errno));
    files_.push_back(std::move(pf));
    index_.partitions.push_back({file, 0, {}});
  }
}

CheckpointWriter::~CheckpointWriter() {
  if (!finished_) {
    std::error_code ec;
    files_.clear();
    fs::remove_all(tmp_dir_, ec);
  }
}

void CheckpointWriter::write(PartitionFile& p, std::span<const std::byte> bytes) {
  write_all(p.fd.get(), bytes.data(), bytes.size(), p.path);
  p.hasher.feed(bytes.data(), bytes.size());
  p.offset += bytes.size();
}

void CheckpointWriter::write_padding(PartitionFile& p, std::uint64_t bytes) {
  static const std::byte kZeros[kCheckpointAlignment] = {};
  while (bytes > 0) {
    const std::uint64_t n = std::min<std::uint64_t>(bytes, sizeof kZeros);
    write(p, {kZeros, n});
    bytes -= n;
  }
}

void CheckpointWriter::add(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape, int partition,
                           std::span<const std::byte> bytes) {
  if (partition < 0 || partition >= static_cast<int>(files_.size())) throw std::logic_error("partition out of range");
  for (const auto& t : index_.tensors) {
    if (t.name == name) throw InputError(name, "duplicate tensor name");
  }
  const auto need = checked_tensor_bytes(shape, dtype_size(dtype));
  if (!need) throw InputError(name, "negative dimension, or a size that does not fit in 64 bits");
  if (*need != bytes.size()) {
    throw InputError(name, "has " + std::to_string(bytes.size()) + " bytes, dtype x shape needs " + std::to_string(*need));
  }
  CheckpointTensor t{name, dtype, shape, contiguous_strides(shape), partition, 0, *need};
  PartitionFile& pf = files_[static_cast<std::size_t>(partition)];
  write_padding(pf, align_up(pf.offset) - pf.offset);
  t.offset = pf.offset;
  write(pf, bytes);
  index_.tensors.push_back(std::move(t));
}

void CheckpointWriter::add_alias(const std::string& name, const std::string& target) {
  index_.aliases.push_back({name, target});
}

void CheckpointWriter::finish() {
  for (std::size_t p = 0; p < files_.size(); ++p) {
    PartitionFile& pf = files_[p];
    write_padding(pf, align_up(pf.offset) - pf.offset);
    pf.hasher.finish();
    index_.partitions[p].bytes = pf.offset;
    index_.partitions[p].chunk_xxh64 = pf.hasher.digests();
    if (::fsync(pf.fd.get()) != 0) throw std::runtime_error(errno_message(pf.path, "fsync failed", errno));
  }
  const std::string index_tmp = tmp_dir_ + "/" + kCheckpointIndexFile;
  {
    FileHandle fd(::open(index_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw std::runtime_error(errno_message(index_tmp, "cannot create", errno));
    const std::string text = index_to_json(index_);
    // Readers refuse a larger index (open_checkpoint), so never write one.
    if (text.size() > kMaxMetadataFileBytes) {
      throw InputError("--checksum-chunk", "the index would take " + std::to_string(text.size()) + " bytes, more than readers accept (" +
                                               std::to_string(kMaxMetadataFileBytes) + "): use larger checksum chunks");
    }
    write_all(fd.get(), text.data(), text.size(), index_tmp);
  }
  std::error_code ec;
  if (fs::exists(dir_, ec)) fs::remove(dir_, ec);  // an empty directory (checked in the constructor)
  fs::rename(tmp_dir_, dir_, ec);
  if (ec) throw std::runtime_error(tmp_dir_ + " -> " + dir_ + ": rename failed: " + ec.message());
  finished_ = true;
}

VerifyReport verify_checkpoint(const Checkpoint& ck) {
  VerifyReport report;
  const CheckpointIndex& idx = ck.index;
  const std::uint64_t block = std::max<std::uint64_t>(idx.checksum_chunk, 8ull << 20) / idx.checksum_chunk * idx.checksum_chunk;
  std::vector<std::byte> buf(block);
  for (std::size_t p = 0; p < idx.partitions.size(); ++p) {
    const CheckpointPartition& part = idx.partitions[p];
    const std::string path = ck.partition_path(static_cast<int>(p));
    FileHandle fd;
    try {
      fd = FileHandle(open_regular_file(path, "partition " + std::to_string(p)));
    } catch (const InputError& e) {  // missing, unreadable, or a FIFO or device swapped in since open
      report.problems.push_back(std::string(e.what()) + " (holds " + idx.tensors_in(static_cast<int>(p), 0, part.bytes) + ")");
      continue;
    }
    const std::uint64_t size = file_size(fd.get(), path);
    if (size != part.bytes) {
      report.problems.push_back(path + ": partition " + std::to_string(p) + " has " + std::to_string(size) + " bytes, the index says " +
                                std::to_string(part.bytes) + (size < part.bytes ? " (truncated: " + idx.tensors_in(static_cast<int>(p), size, part.bytes) + " cut)" : ""));
    }
    for (std::uint64_t off = 0; off < part.bytes; off += block) {
      const std::uint64_t want = std::min(block, part.bytes - off);
      const std::uint64_t got = pread_full(fd.get(), buf.data(), want, off, path);
      for (std::uint64_t c = 0; c < want; c += idx.checksum_chunk) {
        const std::uint64_t begin = off + c;
        const std::uint64_t len = std::min(idx.checksum_chunk, part.bytes - begin);
        const std::uint64_t k = begin / idx.checksum_chunk;
        if (c + len > got) {
          if (size >= part.bytes) report.problems.push_back(path + ": short read at offset " + std::to_string(begin));
          break;  // the truncation was reported above
        }
        ++report.chunks_checked;
        report.bytes_checked += len;
        if (chunk_xxh64(buf.data() + c, len) != part.chunk_xxh64[k]) {
          report.problems.push_back(path + ": checksum mismatch in chunk " + std::to_string(k) + " (bytes " + std::to_string(begin) +
                                    ".." + std::to_string(begin + len) + ", " + idx.tensors_in(static_cast<int>(p), begin, begin + len) + ")");
        }
      }
      if (got < want) break;
    }
  }
  return report;
}

}  // namespace sllm::models
