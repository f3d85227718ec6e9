#include "planner/common/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define PLANNER_PAUSE() _mm_pause()
#else
#define PLANNER_PAUSE() std::this_thread::yield()
#endif

namespace planner {

namespace {
// How long an idle worker spins before sleeping: long enough to bridge the gap between
// iterations of one plan and between control steps at 1 kHz, short enough not to burn
// a core when the loop is idle.
constexpr auto kSpin = std::chrono::microseconds(200);
}  // namespace

int ThreadPool::hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
  workers_.reserve(static_cast<std::size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  job_.fetch_add(1, std::memory_order_acq_rel);
  job_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(std::uint32_t job, int thread) {
  std::uint64_t cur = cursor_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<std::uint32_t>(cur >> 32) != job) return;
    const int item = static_cast<int>(cur & 0xffffffffu);
    if (item >= items_.load(std::memory_order_relaxed)) return;
    if (!cursor_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // The caller cannot publish a new job before this item is done, so body_/ctx_
    // still belong to `job`.
    body_(ctx_, item, thread);
    done_.fetch_add(1, std::memory_order_acq_rel);
    cur = cursor_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run(int items, Body body, void* ctx) {
  if (items <= 0) return;
  if (workers_.empty() || items == 1) {
    for (int i = 0; i < items; ++i) body(ctx, i, 0);
    return;
  }
  const std::uint32_t job = job_.load(std::memory_order_relaxed) + 1;
  body_ = body;
  ctx_ = ctx;
  items_.store(items, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  cursor_.store(static_cast<std::uint64_t>(job) << 32, std::memory_order_release);
  job_.store(job, std::memory_order_release);
  job_.notify_all();
  work(job, 0);
  while (done_.load(std::memory_order_acquire) != items) PLANNER_PAUSE();
}

void ThreadPool::worker_main(int index) {
  std::uint32_t seen = 0;
  for (;;) {
    auto start = std::chrono::steady_clock::now();
    std::uint32_t j;
    int spins = 0;
    while ((j = job_.load(std::memory_order_acquire)) == seen) {
      PLANNER_PAUSE();
      if (++spins == 64) {
        spins = 0;
        if (std::chrono::steady_clock::now() - start > kSpin) {
          job_.wait(seen, std::memory_order_acquire);
          start = std::chrono::steady_clock::now();
        }
      }
    }
    seen = j;
    if (stop_.load(std::memory_order_acquire)) return;
    work(j, index);
  }
}

}  // namespace planner
