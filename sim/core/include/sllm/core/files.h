// Whole-file output that is never seen half-written: text goes to a temporary name beside the target,
// is flushed to the disk, then renamed over it. Errors throw std::runtime_error naming the file and the
// system's reason (errno).
#pragma once

#include <string>

namespace sllm {

// Writes text to `path` via `path + ".tmp"`, fsync and rename; the directory must exist.
void write_file_atomically(const std::string& path, const std::string& text);
// Writes text to DIR/name the same way, creating DIR first.
void write_file_atomically(const std::string& dir, const std::string& name, const std::string& text);

}  // namespace sllm
