// A small persistent thread pool for fork-join loops inside plan().
//
// The calling thread takes part, so `threads` counts it: threads == 1 runs inline with
// no synchronization at all. Workers spin briefly after a job (control loops call
// again within microseconds) and then sleep on a futex-backed atomic wait.
// Work items are claimed dynamically, and the caller waits only for items a worker has
// actually claimed: a worker that is asleep or preempted when a job starts costs
// nothing, the caller simply runs its share. Every item writes only its own outputs,
// so results never depend on which thread ran what.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace planner {

class ThreadPool {
 public:
  // Body of a parallel loop: fn(item, thread_index) with thread_index in [0, threads).
  using Body = void (*)(void* ctx, int item, int thread);

  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs body(ctx, i, thread) for i in [0, items). Blocks until all are done.
  // Not reentrant: one loop at a time per pool.
  void run(int items, Body body, void* ctx);

  // Convenience wrapper for lambdas: parallel_for(items, [&](int i, int thread) {...}).
  template <class F>
  void parallel_for(int items, F& f) {
    run(items, [](void* c, int i, int t) { (*static_cast<F*>(c))(i, t); }, &f);
  }

  // Number of hardware threads, at least 1.
  static int hardware_threads();

 private:
  void worker_main(int index);
  // Claims and runs items of job `job` until none is left.
  void work(std::uint32_t job, int thread);

  std::vector<std::thread> workers_;
  // (job << 32) | next unclaimed item. Claims go through compare-exchange, so a worker
  // that wakes late can never claim an item of a newer job by mistake.
  alignas(64) std::atomic<std::uint64_t> cursor_{0};
  alignas(64) std::atomic<std::uint32_t> job_{0};  // futex word workers wait on
  alignas(64) std::atomic<int> done_{0};           // items finished in the current job
  Body body_ = nullptr;
  void* ctx_ = nullptr;
  // Read by a worker that may still hold the previous job's cursor while run() writes
  // the next job's count: atomic (relaxed) so that race is defined; its value is then
  // irrelevant, the compare-exchange on cursor_ fails.
  std::atomic<int> items_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace planner
