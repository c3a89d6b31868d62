// Runs every registered test, or those whose name contains argv[1]. Exit status 0 iff all pass.

#include <chrono>
#include <iostream>
#include <string>

#include "test_framework.h"

int main(int argc, char** argv) {
  const std::string filter = argc > 1 ? argv[1] : "";
  int num_run = 0;
  int num_failed = 0;
  for (const naiad_test::TestCase& test : naiad_test::registry()) {
    if (test.name.find(filter) == std::string::npos) continue;
    ++num_run;
    naiad_test::failures_in_current_test() = 0;
    std::cout << "[ RUN    ] " << test.name << std::endl;
    const auto start = std::chrono::steady_clock::now();
    try {
      test.body();
    } catch (const std::exception& e) {
      naiad_test::fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count();
    const bool passed = naiad_test::failures_in_current_test() == 0;
    if (!passed) ++num_failed;
    std::cout << (passed ? "[     OK ] " : "[ FAILED ] ") << test.name << " (" << elapsed_ms
              << " ms)" << std::endl;
  }
  std::cout << num_run - num_failed << " of " << num_run << " tests passed" << std::endl;
  return num_failed == 0 && num_run > 0 ? 0 : 1;
}
