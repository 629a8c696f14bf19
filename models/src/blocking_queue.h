// An unbounded multi-producer multi-consumer queue between threads of the loader's pipeline and of the
// live-migration driver.
#pragma once

#include <condition_variable>
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
    }
    cv_.notify_one();
  }
  // Wakes every waiting pop(); items already queued are still handed out.
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  // Blocks for the next item; nullopt once closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !items_.empty() || closed_; });
    return take();
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
    return out;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace sllm::models
