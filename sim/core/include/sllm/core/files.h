// Whole-file input and output. Output is never seen half-written: text goes to a temporary name beside
// the target, is flushed to the disk, then renamed over it. Input is bounded: a path pointed at a FIFO, a
// device (/dev/zero) or a huge file fails at once instead of blocking or growing until memory runs out.
// Bad paths (missing, not a regular file, over the cap) throw InputError naming the file; I/O failures
// throw std::runtime_error naming the file and the system's reason (errno).
#pragma once

#include <cstdint>
#include <string>

namespace sllm {

// The cap on YAML/JSON metadata files (configs, scenarios, sweeps, profiles, checkpoint indexes): such
// files are kilobytes, and the largest, a checkpoint index, holds ~20 bytes per checksum chunk, so 64 MiB
// covers a 3 TB checkpoint at the default 1 MiB chunk while still failing fast on a stray large file.
inline constexpr std::uint64_t kMaxMetadataFileBytes = 64ull << 20;

// Opens `path` read-only, refusing anything but a regular file (a FIFO would block the open or its reads
// forever, a device may never end, a directory is no file). Never blocks. Returns a descriptor the caller
// closes. `what` names the file's role in errors ("checkpoint index", "config file").
int open_regular_file(const std::string& path, const std::string& what);

// Reads the whole regular file at `path`, refusing it (InputError naming the file and the limit) when it
// holds more than `max_bytes`; the cap is enforced while reading, not only from the size stat reports.
std::string read_file_limited(const std::string& path, std::uint64_t max_bytes, const std::string& what);

// Writes text to `path` via `path + ".tmp"`, fsync and rename; the directory must exist.
void write_file_atomically(const std::string& path, const std::string& text);
// Writes text to DIR/name the same way, creating DIR first.
void write_file_atomically(const std::string& dir, const std::string& name, const std::string& text);

// The first line of a small text file (sysfs, procfs), trailing blanks removed; "" when unreadable.
std::string read_first_line(const std::string& path);

}  // namespace sllm
