// Raw probes of the host: O_DIRECT reads of a scratch file, DRAM copies, host<->GPU copies.
#include "probes.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "sllm/models/device_backend.h"
#include "sllm/models/loader.h"
#include "sllm/core/files.h"
#include "sllm/core/random.h"

namespace sllm::calibrate {
namespace {

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::byte, AlignedFree>;
AlignedBuffer aligned(std::size_t bytes) {
  void* p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
  if (!p) throw std::bad_alloc();
  return AlignedBuffer(static_cast<std::byte*>(p));
}

}  // namespace

void write_scratch_file(const std::string& path, std::uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  const std::size_t block = 8u << 20;
  std::vector<std::uint64_t> data(block / 8);
  std::uint64_t state = 0;  // incompressible-looking content
  for (std::uint64_t done = 0; done < bytes; done += block) {
    for (auto& w : data) w = splitmix64(state);
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(block, bytes - done));
    if (::write(fd, data.data(), n) != static_cast<ssize_t>(n)) {
      ::close(fd);
      throw std::runtime_error("cannot write " + path);
    }
  }
  ::fsync(fd);
  ::close(fd);
}

void evict_from_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

DirectReadResult direct_read(const std::string& path, std::uint64_t chunk, int threads, int queue_depth) {
  DirectReadResult r;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) {  // tmpfs and some file systems refuse O_DIRECT
    r.direct = false;
    evict_from_page_cache(path);
    fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
  }
  struct stat st {};
  ::fstat(fd, &st);
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size) / chunk * chunk;
  const std::uint64_t chunks = size / chunk;
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      io_uring ring{};
      if (io_uring_queue_init(static_cast<unsigned>(queue_depth), &ring, 0) != 0) {
        failed = true;
        return;
      }
      std::vector<AlignedBuffer> bufs;
      for (int q = 0; q < queue_depth; ++q) bufs.push_back(aligned(chunk));
      std::vector<int> free_slots;
      for (int q = 0; q < queue_depth; ++q) free_slots.push_back(q);
      int in_flight = 0;
      while (true) {
        while (!free_slots.empty()) {
          const std::uint64_t c = next.fetch_add(1);
          if (c >= chunks) break;
          const int slot = free_slots.back();
          free_slots.pop_back();
          io_uring_sqe* sqe = io_uring_get_sqe(&ring);
          if (!sqe) {  // cannot happen: at most queue_depth reads are in flight
            failed = true;
            return;
          }
          io_uring_prep_read(sqe, fd, bufs[static_cast<std::size_t>(slot)].get(), static_cast<unsigned>(chunk), c * chunk);
          io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(slot));
          ++in_flight;
        }
        if (in_flight == 0) break;
        io_uring_submit(&ring);
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(&ring, &cqe) != 0) {
          failed = true;
          break;
        }
        if (cqe->res != static_cast<int>(chunk)) failed = true;
        free_slots.push_back(static_cast<int>(io_uring_cqe_get_data64(cqe)));
        io_uring_cqe_seen(&ring, cqe);
        --in_flight;
      }
      io_uring_queue_exit(&ring);
    });
  }
  for (auto& th : pool) th.join();
  r.seconds = since(t0);
  ::close(fd);
  if (failed) throw std::runtime_error("read probe of " + path + " failed");
  r.bytes = size;
  return r;
}

double dram_copy_bandwidth(std::uint64_t bytes, int threads) {
  auto src = aligned(bytes), dst = aligned(bytes);
  std::memset(src.get(), 1, bytes);
  std::memset(dst.get(), 2, bytes);  // fault the pages in before timing
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    const std::uint64_t part = bytes / static_cast<std::uint64_t>(threads) / 4096 * 4096;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const std::uint64_t begin = part * static_cast<std::uint64_t>(t);
        const std::uint64_t n = t == threads - 1 ? bytes - begin : part;
        std::memcpy(dst.get() + begin, src.get() + begin, n);
      });
    }
    for (auto& th : pool) th.join();
    best = std::max(best, static_cast<double>(bytes) / since(t0));
  }
  return best;
}

double fresh_copy_bandwidth(std::uint64_t bytes, int repeats) {
  auto src = aligned(bytes);
  std::memset(src.get(), 3, bytes);
  double best = 0;
  for (int rep = 0; rep < repeats; ++rep) {
    // mmap directly: malloc could hand back pages an earlier pass touched.
    void* dst = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dst == MAP_FAILED) throw std::bad_alloc();
    const auto t0 = Clock::now();
    std::memcpy(dst, src.get(), bytes);
    best = std::max(best, static_cast<double>(bytes) / since(t0));
    ::munmap(dst, bytes);
  }
  return best;
}

double cached_read_bandwidth(const std::string& path, bool buffered, bool evict, int repeats) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  struct stat st {};
  ::fstat(fd, &st);
  const auto bytes = static_cast<std::uint64_t>(st.st_size);
  auto dst = aligned(bytes);
  std::memset(dst.get(), 4, bytes);
  if (!evict) {  // bring the file into the page cache
    for (std::uint64_t off = 0; off < bytes; off += 8u << 20) {
      if (::pread(fd, dst.get() + off, std::min<std::uint64_t>(8u << 20, bytes - off), static_cast<off_t>(off)) < 0) break;
    }
  }
  double best = 0;
  for (int rep = 0; rep < (evict ? 1 : repeats); ++rep) {
    if (evict) evict_from_page_cache(path);
    const auto t0 = Clock::now();
    if (buffered) {
      constexpr std::uint64_t kRequest = 8u << 20;
      for (std::uint64_t off = 0; off < bytes; off += kRequest) {
        const std::uint64_t n = std::min(kRequest, bytes - off);
        if (::pread(fd, dst.get() + off, n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
          ::close(fd);
          throw std::runtime_error("short read of " + path);
        }
      }
    } else {
      void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
      if (map == MAP_FAILED) {
        ::close(fd);
        throw std::runtime_error("cannot mmap " + path);
      }
      std::memcpy(dst.get(), map, bytes);
      ::munmap(map, bytes);
    }
    best = std::max(best, static_cast<double>(bytes) / since(t0));
  }
  ::close(fd);
  return best;
}

double per_file_seconds(const std::string& path) {
  constexpr int kFiles = 2000;
  const auto t0 = Clock::now();
  for (int i = 0; i < kFiles; ++i) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    struct stat st {};
    ::fstat(fd, &st);
    ::close(fd);
  }
  return since(t0) / kFiles;
}

double read_ahead_bytes(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return 0;
  const std::string sys = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  std::string kb = read_first_line(sys + "/queue/read_ahead_kb");
  if (kb.empty()) kb = read_first_line(sys + "/../queue/read_ahead_kb");  // a partition: its disk's queue
  if (kb.empty()) return 0;
  try {
    return std::stod(kb) * 1024;
  } catch (const std::exception&) {
    return 0;
  }
}

std::vector<CopyProbe> gpu_copy_probes(const models::Device& device, std::uint64_t bytes) {
  return models::device_backend(device).copy_probes(bytes);
}

MachineInfo describe_machine(const std::string& dir, const std::string& device) {
  MachineInfo m;
  m.device = device;
  {
    std::ifstream in("/proc/cpuinfo");
    int cores = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("model name", 0) == 0) {
        if (m.cpu.empty()) m.cpu = line.substr(line.find(':') + 2);
        ++cores;
      }
    }
    m.cpu += " (" + std::to_string(cores) + " logical CPUs)";
  }
  utsname u{};
  if (::uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
  // The block device under the scratch directory: its model from sysfs (the partition's parent when
  // the device is a partition).
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    const std::string sys = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    std::string model = read_first_line(sys + "/device/model");
    if (model.empty()) model = read_first_line(sys + "/../device/model");
    std::string name;
    std::ifstream uevent(sys + "/uevent");
    for (std::string line; name.empty() && std::getline(uevent, line);) {
      if (line.rfind("DEVNAME=", 0) == 0) name = line.substr(8);
    }
    m.disk = name.empty() ? "device " + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) : name;
    if (!model.empty()) m.disk += " (" + model + ")";
  }
  m.gpu = models::device_backend(models::Device::parse(device, "--device")).describe_devices(&m.driver);
  if (m.gpu.empty()) m.gpu = "none";
  if (m.driver.empty()) m.driver = "none";
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  m.date = date;
  return m;
}

}  // namespace sllm::calibrate
