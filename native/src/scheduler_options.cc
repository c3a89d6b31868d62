#include "naiad/scheduler_options.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace naiad {

SchedulerOptions validated(SchedulerOptions options) {
  if (options.max_batch_size < 1) {
    throw std::invalid_argument("max_batch_size must be >= 1");
  }
  if (options.max_queue_delay_us < 0) {
    throw std::invalid_argument("max_queue_delay_us must be >= 0");
  }
  if (options.priority_levels < 1 || options.priority_levels > kMaxPriorityLevels) {
    throw std::invalid_argument("priority_levels must be in 1.." +
                                std::to_string(kMaxPriorityLevels));
  }
  if (options.default_priority_level < 1 ||
      options.default_priority_level > options.priority_levels) {
    throw std::invalid_argument("default_priority_level " +
                                std::to_string(options.default_priority_level) +
                                " is outside 1.." + std::to_string(options.priority_levels));
  }
  if (options.queue_policies.empty()) {
    options.queue_policies.assign(options.priority_levels, QueuePolicy{});
  } else if (options.queue_policies.size() != options.priority_levels) {
    throw std::invalid_argument("queue_policies has " +
                                std::to_string(options.queue_policies.size()) +
                                " entries; priority_levels is " +
                                std::to_string(options.priority_levels));
  }
  for (const QueuePolicy& policy : options.queue_policies) {
    if (policy.default_timeout_us < 0) {
      throw std::invalid_argument("default_timeout_us must be >= 0");
    }
  }
  std::vector<uint32_t>& preferred = options.preferred_batch_sizes;
  for (uint32_t size : preferred) {
    if (size < 1 || size > options.max_batch_size) {
      throw std::invalid_argument("preferred batch size " + std::to_string(size) +
                                  " is outside 1..max_batch_size (" +
                                  std::to_string(options.max_batch_size) + ")");
    }
  }
  std::sort(preferred.begin(), preferred.end());
  preferred.erase(std::unique(preferred.begin(), preferred.end()), preferred.end());
  return options;
}

}  // namespace naiad
