// The doctest runner shared by every test executable. One executable holds several suites, and
// tests/meson.build runs each suite as its program with doctest's --source-file filter: a run
// whose filters select no test case fails, so that a mistyped or stale filter cannot pass by
// running nothing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace {

unsigned selected_test_cases = 0;

// A listener (it sees the run beside the reporter) that keeps the number of test cases the
// filters selected.
struct SelectedTestCases : doctest::IReporter {
  explicit SelectedTestCases(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    selected_test_cases = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("selected_test_cases", 1, SelectedTestCases);

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int status = context.run();
  if (context.shouldExit()) return status;  // --help, --list-test-cases, ...
  if (status == 0 && selected_test_cases == 0) {
    std::fprintf(stderr, "%s: no test case matches the filters given (see --help: --source-file, "
                 "--test-case)\n", argc > 0 ? argv[0] : "test");
    return 1;
  }
  return status;
}
