// tests/data/data_test_util.hpp — what the data_loaders tests share: a scratch folder that
// removes itself, file writers (plain and gzip), and a check that an expression throws a
// lacoot::Error whose message names given things (the file, the field).
//
// Needs doctest (included first by the test file) and zlib.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "lacoot/core/error.hpp"

namespace lacoot::test {

namespace fs = std::filesystem;

// A fresh folder under the system's temporary directory, removed with everything in it when
// the object goes out of scope.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("lacoot_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

inline void write_text(const fs::path& path, const std::string& text) {
  write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

// gzip data (RFC 1952) around `bytes`, through zlib's deflate with a gzip wrapper.
inline std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& bytes) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(bytes.size())) + 32);
  zs.next_in = const_cast<uint8_t*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Checks that fn() throws a lacoot::Error whose message contains every one of `parts`.
template <class Fn>
void check_error_names(Fn&& fn, std::initializer_list<std::string> parts) {
  bool thrown = false;
  try {
    fn();
  } catch (const Error& e) {
    thrown = true;
    const std::string message = e.what();
    for (const std::string& part : parts) {
      CAPTURE(message);
      CAPTURE(part);
      CHECK(message.find(part) != std::string::npos);
    }
  }
  CHECK_MESSAGE(thrown, "expected a lacoot::Error");
}

}  // namespace lacoot::test
