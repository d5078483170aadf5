// Tests for io/atomic_file.hpp: read_file and write_file_atomic.
//
// What must hold: a write either replaces the whole file or leaves the old one as it was, and
// never leaves its temporary behind; every failure names the path and the system's reason.
// Failures are provoked without root-only tricks: a missing folder, a writer that throws, a
// target that is a folder (rename fails after the data is written), and, when not running as
// root (root ignores permission bits), a read-only folder.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "io_test_util.hpp"
#include "lacoot/io/atomic_file.hpp"

using namespace lacoot;
using namespace lacoot::test;

TEST_CASE("atomic_file: write then read back, replacing the old contents") {
  ScratchDir dir;
  const std::string path = dir.file("a.bin");
  write_file_atomic(path, std::string_view("first version, longer"));
  CHECK(read_file(path) == "first version, longer");
  write_file_atomic(path, std::string("x\0y", 3));
  CHECK(read_file(path) == std::string("x\0y", 3));
  write_file_atomic(path, std::string_view());
  CHECK(read_file(path).empty());
  CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
}

TEST_CASE("atomic_file: a replaced file keeps its permissions") {
  ScratchDir dir;
  const std::string path = dir.file("secret.json");
  write_file_atomic(path, std::string_view("{}"));
  ::chmod(path.c_str(), 0600);
  write_file_atomic(path, std::string_view("{\"a\":1}"));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("atomic_file: a missing folder is an error naming the path") {
  ScratchDir dir;
  const std::string path = dir.file("no/such/folder/model.safetensors");
  check_error([&] { write_file_atomic(path, std::string_view("data")); },
              {path, "No such file or directory", "folder must exist"});
  CHECK(dir.entries().empty());
}

TEST_CASE("atomic_file: a writer that throws leaves the old file and no temporary") {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.bin");
  write_file_atomic(path, std::string_view("old contents"));
  CHECK_THROWS_AS(write_file_atomic(path, [](std::FILE* f) {
                    std::fputs("half of the new cont", f);
                    throw std::runtime_error("simulated crash mid-save");
                  }),
                  std::runtime_error);
  CHECK(read_file(path) == "old contents");
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.bin"});
}

TEST_CASE("atomic_file: a failed rename (the target is a folder) removes the temporary") {
  ScratchDir dir;
  const std::string path = dir.file("taken");
  std::filesystem::create_directory(path);
  write_plain(dir.file("taken/inside.txt"), "keep me");
  check_error([&] { write_file_atomic(path, std::string_view("data")); },
              {path, "renaming", "Is a directory", "unchanged"});
  CHECK(dir.entries() == std::vector<std::string>{"taken"});
  CHECK(read_file(dir.file("taken/inside.txt")) == "keep me");
}

TEST_CASE("atomic_file: a read-only folder fails and keeps the old file") {
  if (::geteuid() == 0) return;  // root writes into read-only folders; nothing to test
  ScratchDir dir;
  const std::string path = dir.file("log.csv");
  write_file_atomic(path, std::string_view("epoch,loss\n"));
  ::chmod(dir.path.c_str(), 0555);
  check_error([&] { write_file_atomic(path, std::string_view("new")); }, {path, "Permission denied"});
  ::chmod(dir.path.c_str(), 0755);
  CHECK(read_file(path) == "epoch,loss\n");
  CHECK(dir.entries() == std::vector<std::string>{"log.csv"});
}

TEST_CASE("atomic_file: read_file errors name the path and the reason") {
  ScratchDir dir;
  check_error([&] { read_file(dir.file("missing.npy")); },
              {"missing.npy", "No such file or directory", "hint"});
  check_error([&] { read_file(dir.path.string()); }, {dir.path.string(), "Is a directory"});
  check_error([&] { write_file_atomic(dir.path.string() + "/", std::string_view("x")); },
              {"does not name a file"});
}

TEST_CASE("prepare_output_folder: creates the folder, leaves nothing in it, refuses what cannot be written") {
  ScratchDir dir;
  prepare_output_folder(dir.path / "runs/a", "--out");
  CHECK(std::filesystem::is_directory(dir.path / "runs/a"));
  CHECK(std::filesystem::is_empty(dir.path / "runs/a"));  // the probe file is gone
  write_plain(dir.file("plain.txt"), "a file, not a folder");
  check_error([&] { prepare_output_folder(dir.path / "plain.txt/sub", "--out"); },
              {"--out", "cannot create the folder", "plain.txt/sub", "Not a directory"});
  check_error([&] { prepare_output_folder(dir.path / "plain.txt", "--out"); }, {"plain.txt", "Not a directory"});
  // A folder where no file can be created, even by root: /proc/self.
  check_error([&] { prepare_output_folder("/proc/self", "--out"); },
              {"--out", "cannot write files in '/proc/self'", "nothing was started"});
  if (::geteuid() != 0) {  // root writes into read-only folders
    ::chmod(dir.path.c_str(), 0555);
    check_error([&] { prepare_output_folder(dir.path, "--out"); }, {"Permission denied"});
    ::chmod(dir.path.c_str(), 0755);
  }
}
