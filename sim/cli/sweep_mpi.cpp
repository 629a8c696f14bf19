// The MPI task farm of `sllmsim sweep --mpi` (sweep_mpi.h). Compiled only when CMake finds MPI.
//
// Messages, all on MPI_COMM_WORLD:
//   worker -> rank 0, tag kTagResult: int64 point index (kReady: the worker's first message), one status
//     byte (0 ok, 1 failed), then text: the results row, the error message, or (kReady) the fingerprint
//     of the sweep the worker read, so that ranks that read different files are caught.
//   rank 0 -> worker, tag kTagTask: int64 point index to run next, or kStop.
#include "sweep_mpi.h"

// The C API only: the deprecated C++ bindings that mpi.h would pull in need another library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sllm::cli {
namespace {

constexpr int kTagTask = 1;
constexpr int kTagResult = 2;
constexpr std::int64_t kStop = -1;
constexpr std::int64_t kReady = -1;

struct Result {
  int source = 0;
  std::int64_t index = kReady;
  bool ok = true;
  std::string text;
};

void send_result(std::int64_t index, bool ok, const std::string& text) {
  std::string bytes(sizeof index + 1, '\0');
  std::memcpy(bytes.data(), &index, sizeof index);
  bytes[sizeof index] = ok ? 0 : 1;
  bytes += text;
  MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, 0, kTagResult, MPI_COMM_WORLD);
}

void send_task(int worker, std::int64_t index) {
  MPI_Send(&index, 1, MPI_INT64_T, worker, kTagTask, MPI_COMM_WORLD);
}

// Sleeps between polls, from 50 us doubling to 5 ms: Open MPI's blocking calls spin, and a waiting rank
// must leave the core to the ranks (or this rank's other thread) running points. A message is noticed
// within 5 ms (sooner when points are short), and a long wait costs at most 200 wake-ups a second.
class Backoff {
 public:
  void pause() {
    std::this_thread::sleep_for(delay_);
    delay_ = std::min(delay_ * 2, std::chrono::microseconds(5000));
  }

 private:
  std::chrono::microseconds delay_{50};
};

void wait_politely(MPI_Request& request) {
  Backoff backoff;
  for (int done = 0;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    backoff.pause();
  }
}

std::int64_t receive_task() {
  std::int64_t index = kStop;
  MPI_Request request;
  MPI_Irecv(&index, 1, MPI_INT64_T, 0, kTagTask, MPI_COMM_WORLD, &request);
  wait_politely(request);
  return index;
}

// The next worker message (polled, as wait_politely).
Result receive_result() {
  MPI_Status status;
  Backoff backoff;
  for (int flag = 0;;) {
    MPI_Iprobe(MPI_ANY_SOURCE, kTagResult, MPI_COMM_WORLD, &flag, &status);
    if (flag) break;
    backoff.pause();
  }
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::string bytes(static_cast<std::size_t>(count), '\0');
  MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, kTagResult, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  Result r;
  r.source = status.MPI_SOURCE;
  if (bytes.size() < sizeof r.index + 1) throw std::runtime_error("MPI sweep: short message from a worker");
  std::memcpy(&r.index, bytes.data(), sizeof r.index);
  r.ok = bytes[sizeof r.index] == 0;
  r.text = bytes.substr(sizeof r.index + 1);
  return r;
}

template <typename Workers>
std::size_t count(const Workers& workers, typename Workers::value_type state) {
  return static_cast<std::size_t>(std::count(workers.begin(), workers.end(), state));
}

}  // namespace

// Rank 0's side of the farm; `workers_` is its MpiSweep's record of the workers.
class MpiDispatcher final : public SweepDispatcher {
 public:
  using Worker = MpiSweep::Worker;
  MpiDispatcher(std::vector<Worker>& workers, bool compute_here, std::uint64_t fingerprint)
      : workers_(workers), compute_here_(compute_here), fingerprint_(std::to_string(fingerprint)) {}

  void dispatch(const std::vector<std::size_t>& pending, const std::function<std::string(std::size_t)>& run_here,
                const Finished& finished) override {
    std::mutex queue_mutex, report_mutex;
    std::size_t next = 0;
    const auto take = [&]() -> std::optional<std::size_t> {
      const std::lock_guard<std::mutex> lock(queue_mutex);
      if (next == pending.size()) return std::nullopt;
      return pending[next++];
    };
    const auto report = [&](std::size_t index, const std::string& row, const std::string& error) {
      const std::lock_guard<std::mutex> lock(report_mutex);
      finished(index, row, error);
    };
    std::vector<std::string> refusals;  // workers that could not read the sweep, or read another one
    {
      // Rank 0 runs points too, on its own thread, while this one answers the workers.
      std::jthread local;
      if (compute_here_) {
        local = std::jthread([&] {
          while (const auto index = take()) {
            std::string row, error;
            try {
              row = run_here(*index);
            } catch (const std::exception& e) {
              error = e.what();
            }
            report(*index, row, error);
          }
        });
      }
      while (count(workers_, Worker::kBusy) > 0) {
        const Result r = receive_result();
        Worker& w = workers_.at(static_cast<std::size_t>(r.source));
        if (r.index == kReady && (!r.ok || r.text != fingerprint_)) {
          refusals.push_back("rank " + std::to_string(r.source) +
                             (r.ok ? " read a sweep with fingerprint " + r.text + ", rank 0 " + fingerprint_ : ": " + r.text));
          send_task(r.source, kStop);
          w = Worker::kReleased;
          continue;
        }
        if (r.index != kReady) report(static_cast<std::size_t>(r.index), r.ok ? r.text : "", r.ok ? "" : r.text);
        if (const auto index = take()) {
          send_task(r.source, static_cast<std::int64_t>(*index));
        } else {
          w = Worker::kWaiting;  // released with the others when the last point is done
        }
      }
    }
    if (!refusals.empty()) {
      std::string all;
      for (const std::string& s : refusals) all += (all.empty() ? "" : "; ") + s;
      throw std::runtime_error("MPI sweep: ranks disagree on the sweep (" + all +
                               "); give every rank the same files and flags");
    }
  }

 private:
  std::vector<Worker>& workers_;
  bool compute_here_;
  std::string fingerprint_;
};

MpiSweep::MpiSweep() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  funneled_ = provided >= MPI_THREAD_FUNNELED;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  // Rank 0 itself is no worker; every other rank's first message (ready or refusal) is due.
  if (rank_ == 0) {
    workers_.assign(static_cast<std::size_t>(size_), Worker::kBusy);
    workers_[0] = Worker::kReleased;
  }
}

MpiSweep::~MpiSweep() {
  for (std::size_t w = 0; w < workers_.size(); ++w) {
    if (workers_[w] == Worker::kWaiting) send_task(static_cast<int>(w), kStop);
  }
  // A busy worker sends one more message (its ready or refusal, or the result of the point it was
  // running when rank 0 failed), then waits for the stop.
  for (std::size_t busy = count(workers_, Worker::kBusy); busy > 0; --busy) send_task(receive_result().source, kStop);
  MPI_Finalize();
}

std::unique_ptr<SweepDispatcher> MpiSweep::dispatcher(const SweepSpec& spec) {
  // Without funneled threads rank 0 only coordinates; alone, it computes.
  return std::make_unique<MpiDispatcher>(workers_, funneled_ || size_ == 1, spec.fingerprint);
}

void MpiSweep::serve(const SweepSpec& spec, const std::string& output_dir) {
  send_result(kReady, true, std::to_string(spec.fingerprint));
  for (std::int64_t index; (index = receive_task()) != kStop;) {
    std::string text;
    bool ok = true;
    try {
      if (index < 0 || static_cast<std::size_t>(index) >= spec.points.size()) {
        throw std::runtime_error("MPI sweep: point index " + std::to_string(index) + " out of range");
      }
      text = run_sweep_point(spec, spec.points[static_cast<std::size_t>(index)], output_dir);
    } catch (const std::exception& e) {
      text = e.what();
      ok = false;
    }
    send_result(index, ok, text);
  }
}

void MpiSweep::refuse(const std::string& why) {
  send_result(kReady, false, why);
  receive_task();  // the stop
}

}  // namespace sllm::cli
