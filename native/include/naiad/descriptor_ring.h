// DescriptorRing: a single-producer single-consumer ring of fixed-size descriptors laid out in
// memory that two processes share (a front end and the engine). It carries no tensors: a
// descriptor names a slot of a shared slab, whose bytes the producer wrote before pushing.
//
// Wake-ups: the consumer announces that it is about to sleep (prepare_wait); a producer that
// pushes afterwards writes the consumer's eventfd once. A busy consumer is never signalled, an
// idle one is never polled.
//
// Thread safety: one producer thread and one consumer thread (possibly in two processes) at a
// time. The memory must stay mapped for the life of the object; the object does not own it.

#ifndef NAIAD_DESCRIPTOR_RING_H_
#define NAIAD_DESCRIPTOR_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace naiad {

// One request or response, 32 bytes. `kind` and `status` are the caller's vocabulary; the ring
// copies them and nothing else reads them.
struct Descriptor {
  uint64_t request_id = 0;
  uint16_t kind = 0;
  uint16_t status = 0;
  uint32_t slot = 0;
  uint32_t header_bytes = 0;  // the slot's first bytes: the encoded request or response header
  uint32_t total_bytes = 0;   // header plus tensor bytes that follow it in the slot
  uint64_t reserved = 0;
};
static_assert(sizeof(Descriptor) == 32, "descriptors are fixed-size on both sides");

class DescriptorRing {
 public:
  // Bytes of shared memory a ring of `capacity` descriptors needs (header included).
  static size_t bytes_for(uint32_t capacity);

  // Attaches to `memory` (at least bytes_for(capacity) bytes, 64-byte aligned). `initialize`:
  // this side lays the ring out (the side that created the memory); otherwise it checks the
  // layout and throws std::invalid_argument when it does not match. `wake_fd`: the consumer's
  // eventfd as this process sees it, written by push(); -1 on the consumer's side.
  DescriptorRing(void* memory, size_t bytes, uint32_t capacity, bool initialize, int wake_fd);

  // Producer: appends `descriptor`; false (nothing written) when the ring is full. Wakes the
  // consumer when it has announced that it sleeps.
  bool push(const Descriptor& descriptor);

  // Consumer: removes up to `max` descriptors, oldest first, into `out`; returns how many.
  size_t pop(Descriptor* out, size_t max);

  // Consumer: announces that it is about to wait for the wake fd. Returns false (and withdraws
  // the announcement) when descriptors are already waiting, so the consumer pops again instead.
  bool prepare_wait();

  // Descriptors waiting now; exact only on the consumer's side.
  size_t size() const;
  uint32_t capacity() const { return capacity_; }

 private:
  struct alignas(64) Header {
    uint64_t magic;
    uint32_t capacity;
    uint32_t descriptor_bytes;
    alignas(64) std::atomic<uint64_t> head;  // next index the producer writes
    alignas(64) std::atomic<uint64_t> tail;  // next index the consumer reads
    alignas(64) std::atomic<uint32_t> consumer_waiting;
  };
  static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared atomics must be lock-free");
  static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared atomics must be lock-free");

  Header* header_;
  Descriptor* slots_;
  uint32_t capacity_;
  int wake_fd_;
};

}  // namespace naiad

#endif  // NAIAD_DESCRIPTOR_RING_H_
