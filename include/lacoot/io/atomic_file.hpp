// lacoot/io/atomic_file.hpp — reading whole files, and writing files so that a crash never
// leaves half of one behind.
//
// Holds: read_file (a whole file into a byte string), write_file_atomic (write a temporary
// file next to the target, flush and fsync it, then rename() it over the target) and
// prepare_output_folder (fail before a run, not after it, when the folder is not writable). Every
// writer in io/ (safetensors, npy, later checkpoints and summary.json) goes through it, so a
// training run killed mid-save keeps the previous checkpoint intact.
// Needs: core/error.hpp and POSIX (open, fsync, rename): lacoot targets Linux.
// Leaves out: memory-mapped reading (files are read into memory once), file locking (two
// processes writing one path: the last rename wins, and neither file is ever torn), Windows.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <string_view>

#include "../core/error.hpp"

namespace lacoot {

// The bytes of the file at `path`. Throws lacoot::Error naming the path and the system's
// reason (strerror) when the file is missing, is a folder or cannot be read.
inline std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(detail::concat("read_file: cannot open '", path, "': ", std::strerror(err),
                               err == ENOENT ? " (hint: check the path; a relative path starts "
                                               "from the working directory)" : ""));
  }
  std::string bytes;
  struct stat st {};
  // The size is only a hint for the first allocation: files under /proc report 0.
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) bytes.reserve(static_cast<std::size_t>(st.st_size));
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw Error(detail::concat("read_file: cannot read '", path, "': ", std::strerror(err)));
    }
    bytes.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return bytes;
}

namespace detail {

// A name for the temporary file, in the target's folder so that rename() stays within one
// file system (POSIX rename is atomic only there): ".<name>.tmp.<pid>.<16 random hex digits>".
// The leading dot hides it from ImageFolder-style directory walks if a crash leaves it behind.
inline std::string temporary_name(const std::filesystem::path& target) {
  static std::atomic<uint64_t> counter{0};
  std::random_device device;
  uint64_t r = (static_cast<uint64_t>(device()) << 32) ^ device() ^ (counter++ * 0x9e3779b97f4a7c15ull);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  return concat(".", target.filename().string(), ".tmp.", ::getpid(), ".", hex);
}

}  // namespace detail

// Writes the file at `path` through `write`, which receives an open binary FILE* and writes
// all of the contents (fwrite and friends). The contents go to a temporary file in the same
// folder, which is flushed, fsync()ed and then renamed over `path`, so that at every moment
// `path` holds either the old contents or the complete new ones. A new file takes the
// permissions of the file it replaces (or 0666 minus the umask, as fopen gives).
// On any failure (the folder is missing or read-only, the disk is full, `write` throws) the
// temporary is removed, the old file is left as it was, and lacoot::Error names the path and
// the system's reason; an exception thrown by `write` itself is passed on unchanged.
inline void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  LACOOT_CHECK(!path.empty() && target.has_filename(), "write_file_atomic: '", path,
               "' does not name a file (hint: a path ending in '/' names a folder)");
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");

  // O_EXCL makes the open fail instead of reusing a name another writer has just picked.
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    temp = (folder / detail::temporary_name(target)).string();
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    const int err = errno;
    throw Error(detail::concat("write_file_atomic: cannot create a temporary file in folder '",
                               folder.string(), "' to write '", path, "': ", std::strerror(err),
                               " (hint: the folder must exist and be writable)"));
  }
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode)) ::fchmod(fd, old.st_mode & 07777);

  std::FILE* file = ::fdopen(fd, "wb");
  // Removes the temporary and reports `what` failed, with errno as it was at the failure.
  auto fail = [&](const char* what) {
    const int err = errno;
    if (file) std::fclose(file);
    else if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    throw Error(detail::concat("write_file_atomic: ", what, " '", path, "' failed: ",
                               std::strerror(err), " (the previous contents of '", path,
                               "', if any, are unchanged)"));
  };
  if (!file) fail("opening the temporary file for");
  try {
    write(file);
  } catch (...) {
    std::fclose(file);
    ::unlink(temp.c_str());
    throw;
  }
  if (std::ferror(file)) fail("writing");
  if (std::fflush(file) != 0) fail("flushing");
  // Without fsync a crash after rename() can leave `path` naming a file whose data never
  // reached the disk (the classic ext4 zero-length-file problem).
  if (::fsync(::fileno(file)) != 0) fail("syncing");
  const int closed = std::fclose(file);
  file = nullptr;
  fd = -1;
  if (closed != 0) fail("closing");
  if (std::rename(temp.c_str(), path.c_str()) != 0) fail("renaming the temporary file onto");
  // The rename lives in the folder's entries: sync the folder too (best effort: some file
  // systems refuse fsync on a folder, and the data itself is already safe).
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

// Makes sure that files can be written in `folder` before any work that would be lost: creates
// it (and its parents) if needed, then creates and removes a temporary file there. An Error
// names the folder, `what` it is for (e.g. "--out") and the system's reason.
inline void prepare_output_folder(const std::filesystem::path& folder, const std::string& what) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  LACOOT_CHECK(!ec, what, ": cannot create the folder '", folder.string(), "': ", ec.message());
  LACOOT_CHECK(std::filesystem::is_directory(folder), what, ": '", folder.string(), "' is not a folder");
  const std::string probe = (folder / detail::temporary_name(folder / "probe")).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;
    throw Error(detail::concat(what, ": cannot write files in '", folder.string(), "': ", std::strerror(err),
                               " (hint: choose a writable folder; nothing was started)"));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

// Writes `bytes` to `path` atomically (as above).
inline void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, [&](std::FILE* f) {
    if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
  });
}

}  // namespace lacoot
