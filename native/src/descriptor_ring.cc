#include "naiad/descriptor_ring.h"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

namespace naiad {
namespace {

constexpr uint64_t kMagic = 0x6e61696164726e67ULL;  // "naiadrng"

// Room for the header, which keeps head, tail and the wait flag on cache lines of their own.
constexpr size_t kHeaderBytes = 256;

void wake(int fd) {
  int rc;
  do {
    rc = ::eventfd_write(fd, 1);
  } while (rc != 0 && errno == EINTR);
  // EAGAIN: the counter is saturated, so the consumer is due to wake anyway. EBADF: the
  // consumer's side is gone and nobody is left to wake.
}

}  // namespace

size_t DescriptorRing::bytes_for(uint32_t capacity) {
  return kHeaderBytes + static_cast<size_t>(capacity) * sizeof(Descriptor);
}

DescriptorRing::DescriptorRing(void* memory, size_t bytes, uint32_t capacity, bool initialize,
                               int wake_fd)
    : capacity_(capacity), wake_fd_(wake_fd) {
  static_assert(sizeof(Header) <= 256, "the header fits the bytes reserved for it");
  if (capacity == 0) throw std::invalid_argument("a ring needs a capacity of at least 1");
  if (memory == nullptr || bytes < bytes_for(capacity)) {
    throw std::invalid_argument("ring memory smaller than bytes_for(" + std::to_string(capacity) +
                                ") = " + std::to_string(bytes_for(capacity)));
  }
  if (reinterpret_cast<uintptr_t>(memory) % 64 != 0) {
    throw std::invalid_argument("ring memory must be 64-byte aligned");
  }
  auto* base = static_cast<unsigned char*>(memory);
  if (initialize) {
    header_ = new (base) Header;
    header_->magic = kMagic;
    header_->capacity = capacity;
    header_->descriptor_bytes = sizeof(Descriptor);
    header_->head.store(0, std::memory_order_relaxed);
    header_->tail.store(0, std::memory_order_relaxed);
    header_->consumer_waiting.store(0, std::memory_order_release);
  } else {
    header_ = reinterpret_cast<Header*>(base);
    if (header_->magic != kMagic || header_->capacity != capacity ||
        header_->descriptor_bytes != sizeof(Descriptor)) {
      throw std::invalid_argument("shared memory does not hold a ring of this capacity");
    }
  }
  slots_ = reinterpret_cast<Descriptor*>(base + kHeaderBytes);
}

bool DescriptorRing::push(const Descriptor& descriptor) {
  const uint64_t head = header_->head.load(std::memory_order_relaxed);
  const uint64_t tail = header_->tail.load(std::memory_order_acquire);
  if (head - tail >= capacity_) return false;
  slots_[head % capacity_] = descriptor;
  // seq_cst pairs with prepare_wait: either the consumer sees this head, or this side sees its
  // announcement and wakes it. Never both missed.
  header_->head.store(head + 1, std::memory_order_seq_cst);
  if (header_->consumer_waiting.load(std::memory_order_seq_cst) != 0 &&
      header_->consumer_waiting.exchange(0, std::memory_order_seq_cst) != 0 && wake_fd_ >= 0) {
    wake(wake_fd_);
  }
  return true;
}

size_t DescriptorRing::pop(Descriptor* out, size_t max) {
  const uint64_t tail = header_->tail.load(std::memory_order_relaxed);
  const uint64_t head = header_->head.load(std::memory_order_acquire);
  uint64_t available = head - tail;
  if (available > max) available = max;
  for (uint64_t i = 0; i < available; ++i) out[i] = slots_[(tail + i) % capacity_];
  header_->tail.store(tail + available, std::memory_order_release);
  return static_cast<size_t>(available);
}

bool DescriptorRing::prepare_wait() {
  header_->consumer_waiting.store(1, std::memory_order_seq_cst);
  const uint64_t tail = header_->tail.load(std::memory_order_relaxed);
  if (header_->head.load(std::memory_order_seq_cst) != tail) {
    header_->consumer_waiting.store(0, std::memory_order_relaxed);
    return false;
  }
  return true;
}

size_t DescriptorRing::size() const {
  return static_cast<size_t>(header_->head.load(std::memory_order_acquire) -
                             header_->tail.load(std::memory_order_acquire));
}

}  // namespace naiad
