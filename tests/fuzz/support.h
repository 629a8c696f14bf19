// Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp, docs/reliability.md "Fuzzing"). Each harness
// defines LLVMFuzzerTestOneInput; built with -DSLLM_FUZZ=ON (clang) it links libFuzzer, otherwise
// replay_main.cpp, so the normal test suite runs every harness over its seed corpus and the regression
// inputs of past crashes.
//
// Contract of every harness: the input is untrusted, so an InputError (exit 2 in the CLI) is the expected
// way to refuse it; any other exception escapes and is reported as a crash, as are sanitizer findings,
// hangs and leaks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

namespace sllm::fuzz {

// A file in a private scratch directory (created once per process under $TMPDIR, else /dev/shm) whose contents are
// replaced by each input: the readers under test take paths.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& name);
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }
  void write(std::string_view bytes) const;

 private:
  std::string dir_;
  std::string path_;
};

// The scratch directory of this process (removed at exit).
const std::string& scratch_dir();

// Where a harness catches the InputError that refuses an input: prints its message when
// SLLM_FUZZ_VERBOSE is set (to see how far the seeds get), else nothing.
void refused(const std::exception& e);

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace sllm::fuzz
