// tests/fuzz/fuzz.hpp — what every libFuzzer target here shares.
//
// Holds: fuzz::survive(f), fuzz::TempFile.
// Needs: core/error.hpp.
//
// The contract the targets check: a parser handed any bytes either returns or throws a
// lacoot::Error. survive(f) swallows exactly that; anything else — another exception
// (std::bad_alloc, std::out_of_range ...), a crash, an ASan or UBSan report, a leak, a timeout,
// an allocation over libFuzzer's -malloc_limit_mb — escapes and is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "lacoot/core/error.hpp"

namespace lacoot::fuzz {

template <typename F>
int survive(F&& f) {
  try {
    f();
  } catch (const lacoot::Error&) {
  }
  return 0;  // libFuzzer: the input may join the corpus
}

// A file holding the input, for parsers that take a path; one per process, rewritten each run.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& suffix)
      : path(std::filesystem::temp_directory_path() / ("lacoot_fuzz_" + std::to_string(::getpid()) + suffix)) {}
  ~TempFile() { std::filesystem::remove(path); }
  const std::filesystem::path& write(const uint8_t* data, std::size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    return path;
  }
};

}  // namespace lacoot::fuzz
