// naiad._native: the Python face of the native scheduler. Only adapts: keyword constructors for
// the option structs, flat attribute names for statistics, the GIL released around the two calls
// that block (next_batch, wait_expired). C++ exceptions become Python ones here (pybind11's
// standard map: std::invalid_argument -> ValueError). Enums are real Python enum.Enum classes.

#include <pybind11/native_enum.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sys/eventfd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "naiad/clock.h"
#include "naiad/descriptor_ring.h"
#include "naiad/scheduler.h"
#include "naiad/sequence_batcher.h"

namespace py = pybind11;
using namespace py::literals;

namespace naiad {
namespace {

void bind_clocks(py::module_& m) {
  py::class_<Clock, std::shared_ptr<Clock>>(m, "Clock")
      .def("now_ns", &Clock::now_ns);
  py::class_<SteadyClock, Clock, std::shared_ptr<SteadyClock>>(m, "SteadyClock")
      .def(py::init<>());
  py::class_<ManualClock, Clock, std::shared_ptr<ManualClock>>(m, "ManualClock")
      .def(py::init<int64_t>(), "start_ns"_a = 0)
      .def("advance_ns", &ManualClock::advance_ns, "delta_ns"_a)
      .def("advance_us", &ManualClock::advance_us, "delta_us"_a)
      .def("set_ns", &ManualClock::set_ns, "now_ns"_a);
}

void bind_options(py::module_& m) {
  py::native_enum<TimeoutAction>(m, "TimeoutAction", "enum.Enum")
      .value("REJECT", TimeoutAction::kReject)
      .value("DELAY", TimeoutAction::kDelay)
      .finalize();

  py::class_<QueuePolicy>(m, "QueuePolicy")
      .def(py::init([](TimeoutAction timeout_action, int64_t default_timeout_us,
                       bool allow_timeout_override, uint32_t max_queue_size) {
             return QueuePolicy{timeout_action, default_timeout_us, allow_timeout_override,
                                max_queue_size};
           }),
           py::kw_only(), "timeout_action"_a = TimeoutAction::kReject,
           "default_timeout_us"_a = 0, "allow_timeout_override"_a = true,
           "max_queue_size"_a = 0)
      .def_readwrite("timeout_action", &QueuePolicy::timeout_action)
      .def_readwrite("default_timeout_us", &QueuePolicy::default_timeout_us)
      .def_readwrite("allow_timeout_override", &QueuePolicy::allow_timeout_override)
      .def_readwrite("max_queue_size", &QueuePolicy::max_queue_size);

  py::class_<SchedulerOptions>(m, "SchedulerOptions")
      .def(py::init([](uint32_t max_batch_size, bool batching_enabled, int64_t max_queue_delay_us,
                       std::vector<uint32_t> preferred_batch_sizes, bool preserve_ordering,
                       uint32_t priority_levels, uint32_t default_priority_level,
                       std::vector<QueuePolicy> queue_policies) {
             SchedulerOptions options;
             options.max_batch_size = max_batch_size;
             options.batching_enabled = batching_enabled;
             options.max_queue_delay_us = max_queue_delay_us;
             options.preferred_batch_sizes = std::move(preferred_batch_sizes);
             options.preserve_ordering = preserve_ordering;
             options.priority_levels = priority_levels;
             options.default_priority_level = default_priority_level;
             options.queue_policies = std::move(queue_policies);
             return options;
           }),
           py::kw_only(), "max_batch_size"_a = 1, "batching_enabled"_a = true,
           "max_queue_delay_us"_a = 0, "preferred_batch_sizes"_a = std::vector<uint32_t>{},
           "preserve_ordering"_a = false, "priority_levels"_a = 1,
           "default_priority_level"_a = 1, "queue_policies"_a = std::vector<QueuePolicy>{})
      .def_readwrite("max_batch_size", &SchedulerOptions::max_batch_size)
      .def_readwrite("batching_enabled", &SchedulerOptions::batching_enabled)
      .def_readwrite("max_queue_delay_us", &SchedulerOptions::max_queue_delay_us)
      .def_readwrite("preferred_batch_sizes", &SchedulerOptions::preferred_batch_sizes)
      .def_readwrite("preserve_ordering", &SchedulerOptions::preserve_ordering)
      .def_readwrite("priority_levels", &SchedulerOptions::priority_levels)
      .def_readwrite("default_priority_level", &SchedulerOptions::default_priority_level)
      .def_readwrite("queue_policies", &SchedulerOptions::queue_policies);
}

void bind_stats(py::module_& m) {
  py::native_enum<FailureReason>(m, "FailureReason", "enum.Enum")
      .value("REJECTED", FailureReason::kRejected)
      .value("CANCELED", FailureReason::kCanceled)
      .value("BACKEND", FailureReason::kBackend)
      .value("OTHER", FailureReason::kOther)
      .finalize();

  py::class_<Histogram>(m, "Histogram")
      .def_readonly("bounds", &Histogram::bounds)
      .def_readonly("counts", &Histogram::counts)
      .def_readonly("sum", &Histogram::sum)
      .def_readonly("count", &Histogram::count);

  py::class_<BatchStats>(m, "BatchStats")
      .def_readonly("batch_size", &BatchStats::batch_size)
      .def_readonly("count", &BatchStats::count)
      .def_readonly("compute_input_ns", &BatchStats::compute_input_ns)
      .def_readonly("compute_infer_ns", &BatchStats::compute_infer_ns)
      .def_readonly("compute_output_ns", &BatchStats::compute_output_ns);

  py::class_<SchedulerStats> stats(m, "Stats");
  const auto duration = [&stats](const char* name, StatDuration SchedulerStats::*field) {
    const std::string prefix(name);
    stats.def_property_readonly((prefix + "_count").c_str(), [field](const SchedulerStats& s) {
      return (s.*field).count;
    });
    stats.def_property_readonly((prefix + "_ns").c_str(), [field](const SchedulerStats& s) {
      return (s.*field).ns;
    });
  };
  duration("success", &SchedulerStats::success);
  duration("fail", &SchedulerStats::fail);
  duration("queue", &SchedulerStats::queue);
  duration("compute_input", &SchedulerStats::compute_input);
  duration("compute_infer", &SchedulerStats::compute_infer);
  duration("compute_output", &SchedulerStats::compute_output);
  duration("cache_hit", &SchedulerStats::cache_hit);
  duration("cache_miss", &SchedulerStats::cache_miss);
  stats.def_readonly("inference_count", &SchedulerStats::inference_count)
      .def_readonly("execution_count", &SchedulerStats::execution_count)
      .def_readonly("last_inference_ms", &SchedulerStats::last_inference_ms)
      .def_readonly("rejected_count", &SchedulerStats::rejected_count)
      .def_readonly("timed_out_count", &SchedulerStats::timed_out_count)
      .def_readonly("canceled_count", &SchedulerStats::canceled_count)
      .def_readonly("backend_failure_count", &SchedulerStats::backend_failure_count)
      .def_readonly("other_failure_count", &SchedulerStats::other_failure_count)
      .def_readonly("pending_by_level", &SchedulerStats::pending_by_level)
      .def_readonly("num_pending", &SchedulerStats::num_pending)
      .def_readonly("num_in_flight", &SchedulerStats::num_in_flight)
      .def_readonly("batch_stats", &SchedulerStats::batch_stats)
      .def_readonly("request_duration_us", &SchedulerStats::request_duration_us)
      .def_readonly("queue_duration_us", &SchedulerStats::queue_duration_us)
      .def_readonly("compute_infer_duration_us", &SchedulerStats::compute_infer_duration_us)
      .def_readonly("batch_size", &SchedulerStats::batch_size);
}

void bind_scheduler(py::module_& m) {
  py::native_enum<EnqueueResult>(m, "EnqueueResult", "enum.Enum")
      .value("OK", EnqueueResult::kOk)
      .value("QUEUE_FULL", EnqueueResult::kQueueFull)
      .value("CLOSED", EnqueueResult::kClosed)
      .finalize();

  py::class_<Batch>(m, "Batch")
      .def_readonly("batch_id", &Batch::batch_id)
      .def_readonly("task_ids", &Batch::task_ids)
      .def_readonly("rows", &Batch::rows)
      .def_readonly("shape_key", &Batch::shape_key)
      .def("__repr__", [](const Batch& b) {
        return "<Batch " + std::to_string(b.batch_id) + ": " + std::to_string(b.task_ids.size()) +
               " tasks, " + std::to_string(b.rows) + " rows>";
      });

  py::class_<LoadSample>(m, "LoadSample")
      .def_readonly("now_ns", &LoadSample::now_ns)
      .def_readonly("num_arrivals", &LoadSample::num_arrivals)
      .def_readonly("num_busy_arrivals", &LoadSample::num_busy_arrivals)
      .def_readonly("busy_gap_ns", &LoadSample::busy_gap_ns)
      .def_readonly("num_batches", &LoadSample::num_batches)
      .def_readonly("num_batched_tasks", &LoadSample::num_batched_tasks);

  py::class_<BatchTiming>(m, "BatchTiming")
      .def_readonly("delay_us", &BatchTiming::delay_us)
      .def_readonly("join_window_us", &BatchTiming::join_window_us);

  using Blocking = py::call_guard<py::gil_scoped_release>;
  py::class_<Scheduler>(m, "Scheduler")
      .def(py::init([](const SchedulerOptions& options, std::shared_ptr<Clock> clock) {
             if (clock == nullptr) clock = std::make_shared<SteadyClock>();
             return std::make_unique<Scheduler>(options, std::move(clock));
           }),
           "options"_a, "clock"_a = py::none())
      .def(
          "enqueue",
          [](Scheduler& s, uint64_t task_id, uint32_t rows, uint64_t shape_key, uint32_t priority,
             int64_t timeout_us) {
            return s.enqueue(TaskSpec{task_id, rows, shape_key, priority, timeout_us});
          },
          "task_id"_a, "rows"_a, "shape_key"_a, "priority"_a = 0, "timeout_us"_a = 0)
      .def("cancel", &Scheduler::cancel, "task_id"_a)
      .def("next_batch", &Scheduler::next_batch, Blocking())
      .def("try_next_batch", &Scheduler::try_next_batch)
      .def("next_wakeup_ns", &Scheduler::next_wakeup_ns)
      .def("wait_expired", &Scheduler::wait_expired, Blocking())
      .def(
          "finish_batch",
          [](Scheduler& s, uint64_t batch_id, bool success, int64_t compute_input_ns,
             int64_t compute_infer_ns, int64_t compute_output_ns) {
            s.finish_batch(batch_id,
                           BatchOutcome{success, compute_input_ns, compute_infer_ns,
                                        compute_output_ns});
          },
          "batch_id"_a, "success"_a, "compute_input_ns"_a = 0, "compute_infer_ns"_a = 0,
          "compute_output_ns"_a = 0)
      .def("record_failure", &Scheduler::record_failure, "reason"_a, "count"_a = 1)
      .def("record_cache_hit", &Scheduler::record_cache_hit, "lookup_ns"_a)
      .def("record_cache_miss", &Scheduler::record_cache_miss, "lookup_ns"_a)
      .def("close", &Scheduler::close)
      .def("poke", &Scheduler::poke)
      .def("stats", &Scheduler::stats)
      .def(
          "set_timing",
          [](Scheduler& s, int64_t delay_us, int64_t join_window_us) {
            s.set_timing(BatchTiming{delay_us, join_window_us});
          },
          "delay_us"_a, "join_window_us"_a)
      .def_property_readonly("timing", &Scheduler::timing)
      .def("load_sample", &Scheduler::load_sample)
      .def_property_readonly("num_pending", &Scheduler::num_pending)
      .def_property_readonly("num_waiting", &Scheduler::num_waiting);
}

void bind_sequence_batcher(py::module_& m) {
  py::native_enum<SequenceStrategy>(m, "SequenceStrategy", "enum.Enum")
      .value("DIRECT", SequenceStrategy::kDirect)
      .value("OLDEST", SequenceStrategy::kOldest)
      .finalize();
  py::native_enum<SequenceEnqueueResult>(m, "SequenceEnqueueResult", "enum.Enum")
      .value("OK", SequenceEnqueueResult::kOk)
      .value("NOT_STARTED", SequenceEnqueueResult::kNotStarted)
      .value("BACKLOG_FULL", SequenceEnqueueResult::kBacklogFull)
      .value("CLOSED", SequenceEnqueueResult::kClosed)
      .finalize();

  py::class_<SequenceOptions>(m, "SequenceOptions")
      .def(py::init([](SequenceStrategy strategy, uint32_t num_instances,
                       uint32_t slots_per_instance, uint32_t max_batch_size,
                       int64_t max_queue_delay_us, std::vector<uint32_t> preferred_batch_sizes,
                       double minimum_slot_utilization, int64_t max_sequence_idle_us,
                       uint32_t max_backlog_sequences) {
             SequenceOptions o;
             o.strategy = strategy;
             o.num_instances = num_instances;
             o.slots_per_instance = slots_per_instance;
             o.max_batch_size = max_batch_size;
             o.max_queue_delay_us = max_queue_delay_us;
             o.preferred_batch_sizes = std::move(preferred_batch_sizes);
             o.minimum_slot_utilization = minimum_slot_utilization;
             o.max_sequence_idle_us = max_sequence_idle_us;
             o.max_backlog_sequences = max_backlog_sequences;
             return o;
           }),
           py::kw_only(), "strategy"_a = SequenceStrategy::kDirect, "num_instances"_a = 1,
           "slots_per_instance"_a = 1, "max_batch_size"_a = 1, "max_queue_delay_us"_a = 0,
           "preferred_batch_sizes"_a = std::vector<uint32_t>{},
           "minimum_slot_utilization"_a = 0.0, "max_sequence_idle_us"_a = 1000000,
           "max_backlog_sequences"_a = 1024)
      .def_readonly("strategy", &SequenceOptions::strategy)
      .def_readonly("num_instances", &SequenceOptions::num_instances)
      .def_readonly("slots_per_instance", &SequenceOptions::slots_per_instance)
      .def_readonly("max_batch_size", &SequenceOptions::max_batch_size)
      .def_readonly("max_queue_delay_us", &SequenceOptions::max_queue_delay_us)
      .def_readonly("preferred_batch_sizes", &SequenceOptions::preferred_batch_sizes)
      .def_readonly("minimum_slot_utilization", &SequenceOptions::minimum_slot_utilization)
      .def_readonly("max_sequence_idle_us", &SequenceOptions::max_sequence_idle_us)
      .def_readonly("max_backlog_sequences", &SequenceOptions::max_backlog_sequences);

  py::class_<SequenceRow>(m, "SequenceRow")
      .def_readonly("task_id", &SequenceRow::task_id)
      .def_readonly("slot", &SequenceRow::slot)
      .def_readonly("start", &SequenceRow::start)
      .def_readonly("end", &SequenceRow::end);

  py::class_<SequenceBatch>(m, "SequenceBatch")
      .def_readonly("batch_id", &SequenceBatch::batch_id)
      .def_readonly("instance", &SequenceBatch::instance)
      .def_readonly("rows", &SequenceBatch::rows)
      .def_readonly("shape_key", &SequenceBatch::shape_key)
      .def_readonly("released_slots", &SequenceBatch::released_slots)
      .def_property_readonly("num_tasks", &SequenceBatch::num_tasks);

  using Blocking = py::call_guard<py::gil_scoped_release>;
  py::class_<SequenceBatcher>(m, "SequenceBatcher")
      .def(py::init([](const SequenceOptions& options, std::shared_ptr<Clock> clock) {
             if (clock == nullptr) clock = std::make_shared<SteadyClock>();
             return std::make_unique<SequenceBatcher>(options, std::move(clock));
           }),
           "options"_a, "clock"_a = py::none())
      .def(
          "enqueue",
          [](SequenceBatcher& b, uint64_t task_id, std::string correlation_key, bool start,
             bool end, uint64_t shape_key) {
            return b.enqueue(
                SequenceTaskSpec{task_id, std::move(correlation_key), start, end, shape_key});
          },
          "task_id"_a, "correlation_key"_a, "start"_a, "end"_a, "shape_key"_a = 0)
      .def("next_batch", &SequenceBatcher::next_batch, "instance"_a, Blocking())
      .def("try_next_batch", &SequenceBatcher::try_next_batch, "instance"_a)
      .def(
          "finish_batch",
          [](SequenceBatcher& b, uint64_t batch_id, bool success, int64_t compute_input_ns,
             int64_t compute_infer_ns, int64_t compute_output_ns) {
            b.finish_batch(batch_id, BatchOutcome{success, compute_input_ns, compute_infer_ns,
                                                  compute_output_ns});
          },
          "batch_id"_a, "success"_a, "compute_input_ns"_a = 0, "compute_infer_ns"_a = 0,
          "compute_output_ns"_a = 0)
      .def("record_failure", &SequenceBatcher::record_failure, "reason"_a, "count"_a = 1)
      .def("close", &SequenceBatcher::close)
      .def("poke", &SequenceBatcher::poke)
      .def("stats", &SequenceBatcher::stats)
      .def_property_readonly("num_pending", &SequenceBatcher::num_pending)
      .def_property_readonly("num_live_sequences", &SequenceBatcher::num_live_sequences)
      .def_property_readonly("num_backlog_sequences", &SequenceBatcher::num_backlog_sequences)
      .def_property_readonly("num_waiting", &SequenceBatcher::num_waiting);
}

// A DescriptorRing over a writable Python buffer (an mmap of the shared memory). The buffer stays
// exported while the ring lives, so the mapping cannot be closed under it.
class PyDescriptorRing {
 public:
  PyDescriptorRing(const py::buffer& memory, size_t offset, uint32_t capacity, bool initialize,
                   int wake_fd)
      : view_(memory.request(true)) {
    const size_t bytes = static_cast<size_t>(view_.size * view_.itemsize);
    if (offset > bytes) throw std::invalid_argument("ring offset beyond the buffer");
    ring_.emplace(static_cast<char*>(view_.ptr) + offset, bytes - offset, capacity, initialize,
                  wake_fd);
  }

  bool push(uint64_t request_id, uint16_t kind, uint32_t slot, uint32_t header_bytes,
            uint32_t total_bytes, uint16_t status) {
    Descriptor d;
    d.request_id = request_id;
    d.kind = kind;
    d.status = status;
    d.slot = slot;
    d.header_bytes = header_bytes;
    d.total_bytes = total_bytes;
    return ring_->push(d);
  }

  py::list pop(size_t max) {
    std::vector<Descriptor> out(max);
    const size_t n = ring_->pop(out.data(), max);
    py::list items(n);
    for (size_t i = 0; i < n; ++i) {
      const Descriptor& d = out[i];
      items[i] = py::make_tuple(d.request_id, d.kind, d.status, d.slot, d.header_bytes,
                                d.total_bytes);
    }
    return items;
  }

  bool prepare_wait() { return ring_->prepare_wait(); }
  size_t size() const { return ring_->size(); }
  uint32_t capacity() const { return ring_->capacity(); }

 private:
  py::buffer_info view_;
  std::optional<DescriptorRing> ring_;
};

void bind_rings(py::module_& m) {
  py::class_<PyDescriptorRing>(m, "DescriptorRing")
      .def(py::init<const py::buffer&, size_t, uint32_t, bool, int>(), "memory"_a, py::kw_only(),
           "offset"_a, "capacity"_a, "initialize"_a, "wake_fd"_a = -1)
      .def_static("bytes_for", &DescriptorRing::bytes_for, "capacity"_a)
      .def("push", &PyDescriptorRing::push, "request_id"_a, "kind"_a, "slot"_a,
           "header_bytes"_a, "total_bytes"_a, "status"_a = 0)
      .def("pop", &PyDescriptorRing::pop, "max"_a = 256)
      .def("prepare_wait", &PyDescriptorRing::prepare_wait)
      .def_property_readonly("size", &PyDescriptorRing::size)
      .def_property_readonly("capacity", &PyDescriptorRing::capacity);
}

// Adds one to an eventfd's counter while keeping the GIL. Python's own os.eventfd_write drops the
// GIL around the write, which hands it to the thread the write just woke; a worker that signals
// an event loop and then starts its next batch would wait for that loop's whole burst of work.
void signal_eventfd(int fd) {
  int rc;
  do {
    rc = ::eventfd_write(fd, 1);
  } while (rc != 0 && errno == EINTR);
  // EAGAIN means the counter is saturated: the reader is already due to wake. Other errors mean
  // the descriptor was closed with its loop, and nobody is left to wake.
}

}  // namespace
}  // namespace naiad

PYBIND11_MODULE(_native, m) {
  m.doc() = "naiad's native dynamic-batching scheduler (mechanism only; see naiad/scheduler.h).";
  naiad::bind_clocks(m);
  naiad::bind_options(m);
  naiad::bind_stats(m);
  naiad::bind_scheduler(m);
  naiad::bind_sequence_batcher(m);
  naiad::bind_rings(m);
  m.def("signal_eventfd", &naiad::signal_eventfd, py::arg("fd"),
        "Adds 1 to the eventfd's counter without releasing the GIL; errors are ignored.");
}
