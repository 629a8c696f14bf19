// An unbounded multi-producer multi-consumer queue between threads of the loader's pipeline and of the
// live-migration driver.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace sllm::models {

template <typename T>
class BlockingQueue {
 public:
  void push(T v) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(v));
      queued_.store(items_.size(), std::memory_order_release);
    }
    cv_.notify_one();
  }
  // Wakes every waiting pop(); items already queued are still handed out.
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }
  // Blocks for the next item; nullopt once closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !items_.empty() || closed_; });
    return take();
  }
  // Like pop(), but polls for up to `spin` before sleeping: a thread woken from sleep (on a VM, a halted
  // virtual CPU) can take a millisecond to run again, where a polling one takes microseconds.
  std::optional<T> pop_polling(std::chrono::microseconds spin) {
    const auto until = std::chrono::steady_clock::now() + spin;
    do {
      if (queued_.load(std::memory_order_acquire) > 0 || closed_.load(std::memory_order_acquire)) return pop();
    } while (std::chrono::steady_clock::now() < until);
    return pop();
  }
  // Never blocks; nullopt when nothing is queued.
  std::optional<T> try_pop() {
    std::lock_guard lock(mu_);
    return take();
  }

 private:
  std::optional<T> take() {  // mu_ held
    if (items_.empty()) return std::nullopt;
    std::optional<T> out(std::move(items_.front()));
    items_.pop_front();
    queued_.store(items_.size(), std::memory_order_release);
    return out;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  std::atomic<bool> closed_{false};      // written under mu_, read by pollers without it
  std::atomic<std::size_t> queued_{0};  // items_.size() for pollers that do not take the lock
};

}  // namespace sllm::models
