// LD_PRELOAD fault injector: open() with O_DIRECT of a path under $SLLM_REFUSE_O_DIRECT_UNDER fails with
// EINVAL, as on file systems that refuse direct I/O. Lets the CLI's buffered fallback be tested on any
// file system, with the real binary. Prints how many opens it refused when the process exits, so a test
// can tell the injector was active.
#include <dlfcn.h>
#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

std::atomic<int> refused{0};

bool refuse(const char* path, int flags) {
  if (!(flags & O_DIRECT) || path == nullptr) return false;
  const char* under = std::getenv("SLLM_REFUSE_O_DIRECT_UNDER");
  if (under == nullptr || std::strncmp(path, under, std::strlen(under)) != 0) return false;
  refused.fetch_add(1);
  errno = EINVAL;
  return true;
}

mode_t mode_arg(int flags, va_list ap) { return (flags & (O_CREAT | O_TMPFILE)) ? static_cast<mode_t>(va_arg(ap, int)) : 0; }

template <typename Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

struct Report {
  ~Report() {
    if (std::getenv("SLLM_REFUSE_O_DIRECT_UNDER")) std::fprintf(stderr, "refuse_o_direct: refused %d opens\n", refused.load());
  }
} report;

// Refuses, or forwards to the next definition of `name` (libc's) with the leading arguments (openat's
// directory), the path, the flags and the mode.
template <typename... Lead>
int refuse_or_forward(const char* name, const char* path, int flags, mode_t mode, Lead... lead) {
  if (refuse(path, flags)) return -1;
  return next<int (*)(Lead..., const char*, int, ...)>(name)(lead..., path, flags, mode);
}

}  // namespace

// The variadic mode argument must be read in each function itself (it cannot be forwarded).
#define SLLM_MODE_ARG(flags)                 \
  va_list ap;                                \
  va_start(ap, flags);                       \
  const mode_t mode = mode_arg(flags, ap);   \
  va_end(ap)

extern "C" {

int open(const char* path, int flags, ...) {
  SLLM_MODE_ARG(flags);
  return refuse_or_forward("open", path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  SLLM_MODE_ARG(flags);
  return refuse_or_forward("open64", path, flags, mode);
}

int openat(int dir, const char* path, int flags, ...) {
  SLLM_MODE_ARG(flags);
  return refuse_or_forward("openat", path, flags, mode, dir);
}

int openat64(int dir, const char* path, int flags, ...) {
  SLLM_MODE_ARG(flags);
  return refuse_or_forward("openat64", path, flags, mode, dir);
}

}  // extern "C"
