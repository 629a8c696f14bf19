// Slot allocation over a vector of plain structs (instances, requests, loads, migrations): ids are
// indices, freed slots are reused last-freed-first (LIFO: the warmest memory, and what runs were
// fingerprinted with), and every take bumps the slot's generation so that a handle kept across a reuse
// (id, generation) can be recognised as stale. The vector grows only when no slot is free, so a steady
// state allocates nothing. The pool does not own the vector: ClusterState's vectors stay readable by
// policies and outputs.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace sllm {

template <class T>
class SlotPool {
 public:
  explicit SlotPool(std::vector<T>& items) : items_(&items) {}
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;

  // A slot for a new item: the most recently released one, else a default-constructed one appended.
  // The slot's contents are left as they were (callers reset them, keeping vectors' capacity).
  std::uint32_t take() {
    std::uint32_t s;
    if (!free_.empty()) {
      s = free_.back();
      free_.pop_back();
    } else {
      items_->emplace_back();
      generation_.push_back(0);
      in_use_.push_back(0);
      s = static_cast<std::uint32_t>(items_->size() - 1);
    }
    ++generation_[s];
    in_use_[s] = 1;
    return s;
  }
  // Returns `s` to the pool. Releasing a slot that is not taken is a logic error (it would be handed
  // out twice).
  void release(std::uint32_t s) {
    if (s >= in_use_.size() || !in_use_[s]) throw std::logic_error("SlotPool: released a slot that is not taken");
    in_use_[s] = 0;
    free_.push_back(s);
  }
  // Times slot `s` has been taken (1 after its first take).
  std::uint32_t generation(std::uint32_t s) const { return generation_[s]; }
  std::size_t size() const { return items_->size(); }
  std::size_t free_count() const { return free_.size(); }
  std::size_t in_use() const { return items_->size() - free_.size(); }
  T& operator[](std::uint32_t s) { return (*items_)[s]; }
  const T& operator[](std::uint32_t s) const { return (*items_)[s]; }

 private:
  std::vector<T>* items_;
  std::vector<std::uint32_t> free_;
  std::vector<std::uint32_t> generation_;
  std::vector<std::uint8_t> in_use_;  // bytes, not bits: a take/release is one store
};

}  // namespace sllm
