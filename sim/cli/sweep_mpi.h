// `sllmsim sweep --mpi`: a sweep as an MPI task farm (built when CMake finds MPI; docs/paper.md, "On a
// cluster"). Every rank reads the same sweep; rank 0 checks and plans it as `sllmsim sweep` does, then
// hands the pending points out one at a time to whichever rank is free (points differ in cost by orders
// of magnitude, so a fixed split would leave ranks idle) and runs points itself between messages. Each
// rank writes its points' directories into the shared output directory; rank 0 collects the rows and
// writes plan.txt and results.csv, the same bytes as a single-process run. All MPI calls are in
// sweep_mpi.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sllm/sim/sweep.h"

namespace sllm::cli {

class MpiDispatcher;

class MpiSweep {
 public:
  // MPI_Init (threads: funneled, only the calling thread talks MPI). The destructor releases the workers
  // rank 0 has not released yet, whatever happened on it (an error before any point ran included), then
  // calls MPI_Finalize, so an error on one rank ends every rank instead of leaving them waiting. Waiting
  // ranks poll with short sleeps instead of spinning in a blocking call (Open MPI's spin), so that idle
  // ranks leave the cores to those running points; workers are released together at the end, since one
  // released early would spin in MPI_Finalize until the last point is done.
  MpiSweep();
  ~MpiSweep();
  MpiSweep(const MpiSweep&) = delete;
  MpiSweep& operator=(const MpiSweep&) = delete;

  bool coordinator() const { return rank_ == 0; }

  // Rank 0: the dispatcher for run_sweep (it must not outlive this object).
  std::unique_ptr<SweepDispatcher> dispatcher(const SweepSpec& spec);

  // Ranks > 0: runs the points rank 0 hands out into output_dir until it says stop. A failed point is
  // reported to rank 0 with its message, and the worker goes on.
  void serve(const SweepSpec& spec, const std::string& output_dir);
  // Ranks > 0 that could not read the sweep: tell rank 0 why, and wait to be released.
  void refuse(const std::string& why);

 private:
  friend class MpiDispatcher;
  int rank_ = 0;
  int size_ = 1;
  bool funneled_ = false;  // MPI allows a second thread (making no MPI calls) on rank 0
  // Rank 0: what each worker (by rank) is doing, so that every one is released exactly once.
  enum class Worker { kBusy, kWaiting, kReleased };  // busy: a message from it is due
  std::vector<Worker> workers_;
};

}  // namespace sllm::cli
