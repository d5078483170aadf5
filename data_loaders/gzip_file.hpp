// data_loaders/gzip_file.hpp — reading a whole file into memory, gunzipping it on the way.
//
// Holds: read_file(path), which returns the file's bytes and, when they start with the gzip
// magic 1f 8b (RFC 1952), the inflated bytes instead; gunzip(bytes, name) for bytes already in
// memory; is_gzip(bytes).
// Needs: zlib (inflateInit2 with 16 + MAX_WBITS asks zlib to expect and check the gzip header
// and trailer: CRC-32 and length) and lacoot/core/error.hpp.
// Leaves out: streaming (every dataset here fits in memory: Fashion-MNIST's training images are
// 47 MB inflated), writing gzip files, and zip archives (.npz, .zip).
//
// A file of several gzip members one after the other (what `cat a.gz b.gz` gives) inflates to
// the members' contents concatenated, as gzip(1) and Python's gzip module do.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lacoot/core/error.hpp"

namespace lacoot::data {

using Bytes = std::vector<uint8_t>;

// True when `bytes` start with the gzip magic number 1f 8b (RFC 1952, section 2.3.1).
inline bool is_gzip(const Bytes& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// The raw bytes of a file, without gunzipping; errors name the path.
inline Bytes read_file_raw(const std::filesystem::path& path) {
  std::error_code ec;
  LACOOT_CHECK(std::filesystem::exists(path, ec), "read_file: ", path.string(),
               " does not exist (HINT: check the dataset root; the working directory is ",
               std::filesystem::current_path(ec).string(), ")");
  LACOOT_CHECK(!std::filesystem::is_directory(path, ec), "read_file: ", path.string(),
               " is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  LACOOT_CHECK(in.good(), "read_file: cannot open ", path.string(), " (", std::strerror(errno),
               ")");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  LACOOT_CHECK(size >= 0, "read_file: cannot determine the size of ", path.string());
  in.seekg(0, std::ios::beg);
  Bytes bytes(static_cast<std::size_t>(size));
  if (size > 0) in.read(reinterpret_cast<char*>(bytes.data()), size);
  LACOOT_CHECK(in.gcount() == size, "read_file: read ", in.gcount(), " of the ", size,
               " bytes of ", path.string(), " (was it truncated while being read?)");
  return bytes;
}

// The inflated contents of gzip data; `name` (usually the file path) is put in every error.
inline Bytes gunzip(const Bytes& gz, const std::string& name) {
  LACOOT_CHECK(is_gzip(gz), "gunzip: ", name, " is not gzip data (expected the magic bytes 1f 8b, "
               "found ", gz.size() < 2 ? std::string("fewer than 2 bytes") : "other bytes", ")");
  Bytes out;
  // The trailer's ISIZE (last 4 bytes, little-endian) is the length mod 2^32 of the last member:
  // a good first guess for the output size, never trusted beyond that — nor beyond deflate's
  // largest ratio (1032:1), so a lying trailer cannot make a small file reserve gigabytes.
  if (gz.size() >= 18) {
    const std::size_t n = gz.size();
    const uint32_t isize = uint32_t(gz[n - 4]) | uint32_t(gz[n - 3]) << 8 |
                           uint32_t(gz[n - 2]) << 16 | uint32_t(gz[n - 1]) << 24;
    out.reserve(std::min<std::size_t>({isize, std::size_t{1} << 31, 1032 * n}));
  }

  z_stream zs{};
  LACOOT_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, "gunzip: zlib could not start "
               "inflating ", name, " (out of memory?)");
  std::size_t consumed = 0;  // input bytes handed to zlib so far
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  int ret = Z_OK;
  while (true) {
    // zlib counts in uInt (32 bits): feed the input in pieces below 1 GiB.
    if (zs.avail_in == 0 && consumed < gz.size()) {
      const std::size_t piece = std::min<std::size_t>(gz.size() - consumed, std::size_t{1} << 30);
      zs.next_in = const_cast<Bytes::value_type*>(gz.data() + consumed);
      zs.avail_in = static_cast<uInt>(piece);
      consumed += piece;
    }
    const std::size_t before = out.size();
    out.resize(before + kChunk);
    zs.next_out = out.data() + before;
    zs.avail_out = static_cast<uInt>(kChunk);
    ret = inflate(&zs, Z_NO_FLUSH);
    out.resize(before + (kChunk - zs.avail_out));
    if (ret == Z_STREAM_END) {
      // Another member may follow (RFC 1952 2.2); anything else after the member is an error.
      const std::size_t left = zs.avail_in + (gz.size() - consumed);
      if (left == 0) break;
      const std::size_t at = gz.size() - left;
      if (left >= 2 && gz[at] == 0x1f && gz[at + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      inflateEnd(&zs);
      throw Error(detail::concat("gunzip: ", name, ": ", left, " unexpected bytes after the gzip "
                                 "data at offset ", at, " (expected the end of the file or "
                                 "another gzip member; HINT: the file may be corrupt)"));
    }
    if (ret == Z_BUF_ERROR && zs.avail_in == 0 && consumed == gz.size()) {
      inflateEnd(&zs);
      throw Error(detail::concat("gunzip: ", name, " is truncated: its ", gz.size(),
                                 " bytes end inside the compressed stream after ", out.size(),
                                 " inflated bytes (HINT: download the file again)"));
    }
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      const std::string why = zs.msg ? zs.msg : "zlib error " + std::to_string(ret);
      inflateEnd(&zs);
      throw Error(detail::concat("gunzip: ", name, " is corrupt: zlib says \"", why,
                                 "\" after ", out.size(), " inflated bytes (HINT: check it with "
                                 "`gzip -t`, then download it again)"));
    }
  }
  inflateEnd(&zs);
  return out;
}

// A whole file in memory: gunzipped when it is gzip data (magic 1f 8b), as it is otherwise.
inline Bytes read_file(const std::filesystem::path& path) {
  Bytes bytes = read_file_raw(path);
  if (!is_gzip(bytes)) return bytes;
  return gunzip(bytes, path.string());
}

}  // namespace lacoot::data
