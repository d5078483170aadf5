// tests/io/io_test_util.hpp — helpers the io/ suites share: a scratch folder that cleans up
// after itself, fixture bytes as a string, listing a folder, and checking an error's message.
//
// Needs doctest (the including test file includes it first) and tests/check.hpp.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../check.hpp"

namespace lacoot::test {

// A fresh folder under the system's temporary directory, removed with everything in it when
// the test ends (also when it fails).
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("lacoot-io-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
  // The names in the folder, so tests can see that no temporary file was left behind.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

inline std::string bytes_of(const std::vector<unsigned char>& b) { return std::string(b.begin(), b.end()); }

inline void write_plain(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Every element equals the reference exactly (the readers copy or widen, never round); a NaN
// reference wants a NaN, and a zero's sign must match.
inline void check_exact(const Tensor& t, const std::vector<double>& expected) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  const std::vector<double> v = values_of(t);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    if (std::isnan(expected[i])) CHECK(std::isnan(v[i]));
    else CHECK((v[i] == expected[i] && std::signbit(v[i]) == std::signbit(expected[i])));
  }
}

// f() must throw lacoot::Error whose message contains every one of `parts`.
template <class F>
void check_error(F&& f, std::initializer_list<std::string_view> parts) {
  try {
    f();
  } catch (const lacoot::Error& e) {
    const std::string message = e.what();
    for (std::string_view part : parts) CHECK_MESSAGE(message.find(part) != std::string::npos,
                                                      "the message \"", message, "\" lacks \"", part, "\"");
    return;
  }
  FAIL("expected a lacoot::Error mentioning \"", *parts.begin(), "\"");
}

}  // namespace lacoot::test
