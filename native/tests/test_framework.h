// A minimal test framework (no gtest in this build): TEST registers a function; EXPECT_* records a
// failure and goes on, ASSERT_* records it and returns from the test. test_main.cc runs them all.

#ifndef NAIAD_TESTS_TEST_FRAMEWORK_H_
#define NAIAD_TESTS_TEST_FRAMEWORK_H_

#include <iostream>
#include <string>
#include <type_traits>
#include <vector>

namespace naiad_test {

struct TestCase {
  std::string name;
  void (*body)();
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

inline int& failures_in_current_test() {
  static int failures = 0;
  return failures;
}

struct Registrar {
  Registrar(const char* name, void (*body)()) { registry().push_back({name, body}); }
};

template <typename T>
std::string describe(const T& value);

template <typename T>
std::string describe(const std::vector<T>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i == 0 ? "" : ", ") + describe(values[i]);
  return text + "]";
}

template <typename T>
std::string describe(const T& value) {
  if constexpr (std::is_arithmetic_v<T>) {
    return std::to_string(value);
  } else if constexpr (std::is_enum_v<T>) {
    return "enum " + std::to_string(static_cast<long long>(value));
  } else {
    return "<unprintable>";
  }
}

inline bool fail(const char* file, int line, const std::string& message) {
  ++failures_in_current_test();
  std::cout << "  " << file << ":" << line << ": " << message << "\n";
  return false;
}

inline bool fail_eq(const char* file, int line, const char* a_text, const char* b_text,
                    const std::string& a, const std::string& b) {
  return fail(file, line,
              std::string(a_text) + " == " + b_text + "\n    left:  " + a + "\n    right: " + b);
}

template <typename A, typename B>
bool check_eq(const A& a, const B& b, const char* a_text, const char* b_text, const char* file,
              int line) {
  return a == b || fail_eq(file, line, a_text, b_text, describe(a), describe(b));
}

}  // namespace naiad_test

#define TEST(suite, name)                                                                 \
  static void suite##_##name##_body();                                                    \
  static const naiad_test::Registrar suite##_##name##_registrar(#suite "." #name,         \
                                                                suite##_##name##_body); \
  static void suite##_##name##_body()

#define EXPECT_TRUE(cond) ((cond) ? true : naiad_test::fail(__FILE__, __LINE__, "expected " #cond))
#define EXPECT_FALSE(cond) EXPECT_TRUE(!(cond))
#define EXPECT_EQ(a, b) naiad_test::check_eq((a), (b), #a, #b, __FILE__, __LINE__)
#define EXPECT_THROW(stmt, exception)                                                   \
  do {                                                                                  \
    bool thrown_ = false;                                                               \
    try {                                                                               \
      stmt;                                                                             \
    } catch (const exception&) {                                                        \
      thrown_ = true;                                                                   \
    }                                                                                   \
    if (!thrown_) naiad_test::fail(__FILE__, __LINE__, #stmt " did not throw " #exception); \
  } while (0)
#define ASSERT_TRUE(cond) \
  do {                    \
    if (!EXPECT_TRUE(cond)) return; \
  } while (0)
#define ASSERT_EQ(a, b)             \
  do {                              \
    if (!EXPECT_EQ(a, b)) return;   \
  } while (0)

#endif  // NAIAD_TESTS_TEST_FRAMEWORK_H_
