// DescriptorRing: order, wrap-around, full ring, attach checks, wake-ups, and a producer and a
// consumer thread moving many descriptors.

#include "naiad/descriptor_ring.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_framework.h"

using naiad::Descriptor;
using naiad::DescriptorRing;

namespace {

// 64-byte aligned memory for one ring, freed at scope exit.
struct RingMemory {
  explicit RingMemory(uint32_t capacity) : bytes(DescriptorRing::bytes_for(capacity)) {
    data = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  }
  ~RingMemory() { std::free(data); }
  size_t bytes;
  void* data;
};

Descriptor numbered(uint64_t id) {
  Descriptor d;
  d.request_id = id;
  d.slot = static_cast<uint32_t>(id * 3);
  d.kind = 1;
  return d;
}

uint64_t pending_wakes(int fd) {
  eventfd_t value = 0;
  return ::eventfd_read(fd, &value) == 0 ? value : 0;
}

}  // namespace

TEST(DescriptorRing, KeepsOrderAcrossWrapAround) {
  RingMemory memory(4);
  DescriptorRing ring(memory.data, memory.bytes, 4, true, -1);
  Descriptor out[4];
  uint64_t next_in = 0;
  uint64_t next_out = 0;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(ring.push(numbered(next_in++)));
    const size_t n = ring.pop(out, 4);
    ASSERT_EQ(n, size_t{3});
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(out[i].request_id, next_out);
      EXPECT_EQ(out[i].slot, static_cast<uint32_t>(next_out * 3));
      ++next_out;
    }
  }
  EXPECT_EQ(ring.size(), size_t{0});
}

TEST(DescriptorRing, FullRingRefusesWithoutOverwriting) {
  RingMemory memory(2);
  DescriptorRing ring(memory.data, memory.bytes, 2, true, -1);
  EXPECT_TRUE(ring.push(numbered(1)));
  EXPECT_TRUE(ring.push(numbered(2)));
  EXPECT_FALSE(ring.push(numbered(3)));
  Descriptor out[2];
  ASSERT_EQ(ring.pop(out, 1), size_t{1});
  EXPECT_EQ(out[0].request_id, uint64_t{1});
  EXPECT_TRUE(ring.push(numbered(4)));
  ASSERT_EQ(ring.pop(out, 2), size_t{2});
  EXPECT_EQ(out[0].request_id, uint64_t{2});
  EXPECT_EQ(out[1].request_id, uint64_t{4});
}

TEST(DescriptorRing, AttachChecksTheLayout) {
  RingMemory memory(8);
  DescriptorRing creator(memory.data, memory.bytes, 8, true, -1);
  creator.push(numbered(7));
  DescriptorRing attached(memory.data, memory.bytes, 8, false, -1);
  Descriptor out[1];
  ASSERT_EQ(attached.pop(out, 1), size_t{1});
  EXPECT_EQ(out[0].request_id, uint64_t{7});
  EXPECT_THROW(DescriptorRing(memory.data, memory.bytes, 4, false, -1), std::invalid_argument);
  EXPECT_THROW(DescriptorRing(memory.data, memory.bytes - 1, 8, true, -1), std::invalid_argument);
  EXPECT_THROW(DescriptorRing(memory.data, memory.bytes, 0, true, -1), std::invalid_argument);
}

TEST(DescriptorRing, WakesOnlyAnAnnouncedSleeper) {
  const int fd = ::eventfd(0, EFD_NONBLOCK);
  ASSERT_TRUE(fd >= 0);
  RingMemory memory(8);
  DescriptorRing consumer(memory.data, memory.bytes, 8, true, -1);
  DescriptorRing producer(memory.data, memory.bytes, 8, false, fd);
  producer.push(numbered(1));  // the consumer is busy: no signal
  EXPECT_EQ(pending_wakes(fd), uint64_t{0});
  EXPECT_FALSE(consumer.prepare_wait());  // something waits: do not sleep
  Descriptor out[8];
  consumer.pop(out, 8);
  EXPECT_TRUE(consumer.prepare_wait());
  producer.push(numbered(2));
  producer.push(numbered(3));  // one wake-up for the burst
  EXPECT_EQ(pending_wakes(fd), uint64_t{1});
  EXPECT_EQ(consumer.pop(out, 8), size_t{2});
  ::close(fd);
}

TEST(DescriptorRing, ThreadsMoveEveryDescriptorOnceInOrder) {
  const int fd = ::eventfd(0, EFD_NONBLOCK);
  ASSERT_TRUE(fd >= 0);
  constexpr uint64_t kCount = 200000;
  RingMemory memory(64);
  DescriptorRing consumer(memory.data, memory.bytes, 64, true, -1);
  DescriptorRing producer(memory.data, memory.bytes, 64, false, fd);
  std::thread writer([&] {
    for (uint64_t id = 0; id < kCount;) {
      if (producer.push(numbered(id))) ++id;
      else std::this_thread::yield();
    }
  });
  uint64_t expected = 0;
  bool in_order = true;
  Descriptor out[16];
  while (expected < kCount) {
    const size_t n = consumer.pop(out, 16);
    for (size_t i = 0; i < n; ++i) in_order = in_order && out[i].request_id == expected++;
    if (n == 0 && consumer.prepare_wait()) {
      pollfd waiter{fd, POLLIN, 0};
      ::poll(&waiter, 1, 100);  // a lost wake-up would show as a stall, bounded here
      pending_wakes(fd);
    }
  }
  writer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(expected, kCount);
  ::close(fd);
}
