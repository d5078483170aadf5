// Data parallel over MPI (issue 9): runs tests/distributed/mpi_worker.cpp under `mpirun -np 2`
// (one thread per rank, as on this 2-core machine) and checks each scenario's exit status, its
// report and how long it took. Built only where Meson found MPI and mpirun.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "lacoot/io/safetensors.hpp"

namespace {

struct Run {
  int status = -1;
  double seconds = 0;
  std::string output;
  bool says(const std::string& s) const { return output.find(s) != std::string::npos; }
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name, " is unset (meson test sets LACOOT, LACOOT_MPIRUN and LACOOT_MPI_WORKER)");
  return v;
}

// `program args` as N processes of mpirun (ranks > 0), or as one plain process (ranks = 0).
Run launch(int ranks, const std::string& program, const std::string& args) {
  static int serial = 0;
  const std::string log = "/tmp/lacoot_mpi_" + std::to_string(::getpid()) + "_" + std::to_string(serial++) + ".log";
  // Open MPI refuses to run as root unless told (CI containers run as root).
  const std::string root = ::geteuid() == 0 ? "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " : "";
  // Under AddressSanitizer (tests/sanitize.sh), LeakSanitizer stays off in MPI's processes: Open
  // MPI's plugins leave thousands of blocks at MPI_Finalize, allocated from modules unloaded by
  // then, so that no suppression can name them. ASan's other checks stay on, and the same code
  // is leak-checked by the single-process suites.
  const std::string launcher =
      ranks > 0 ? "LSAN_OPTIONS=detect_leaks=0 " + env("LACOOT_MPIRUN") + " -np " + std::to_string(ranks) +
                      " --oversubscribe "
                : std::string();
  const std::string command = root + "OMP_NUM_THREADS=1 " + launcher + program + " " + args + " > " + log + " 2>&1";
  const auto start = std::chrono::steady_clock::now();
  const int raw = std::system(command.c_str());
  Run r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  std::remove(log.c_str());
  return r;
}

Run mpirun(const std::string& scenario, int ranks = 2) { return launch(ranks, env("LACOOT_MPI_WORKER"), scenario); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("MPI collectives on 2 ranks: all_reduce, broadcast, all_gather, barrier and their errors") {
  const Run r = mpirun("collectives");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.says("rank 0 of 2: collectives ok"));
  CHECK(r.says("rank 1 of 2: collectives ok"));
}

// A scenario whose ranks each check their weights against one process's and report "rank r of
// 2: <report>"; returns what they printed.
std::string expect_both_ranks(const std::string& scenario, const std::string& report) {
  const Run r = mpirun(scenario);
  MESSAGE(r.output);
  CHECK(r.status == 0);
  CHECK(r.says("rank 0 of 2: " + report));
  CHECK(r.says("rank 1 of 2: " + report));
  return r.output;
}

TEST_CASE("DistributedDataParallel: 2 ranks with half the batch each end with one process's weights") {
  const std::string output = expect_both_ranks("ddp", "5 buckets on cpu");
  CHECK(output.find("overlap on") != std::string::npos);
  CHECK(output.find("overlap off") != std::string::npos);
}

TEST_CASE("SyncBatchNorm: 2 ranks of half the batch normalise as one process; per-rank BatchNorm does not") {
  expect_both_ranks("syncbn", "after 12 steps");
}

TEST_CASE("the regulariser on gathered rows (global) matches one process; on each rank's rows (local) it does not") {
  expect_both_ranks("regulariser", "after 12 steps");
}

TEST_CASE("a rank that hangs: the other gives up at its timeout with a clear error, and the job ends") {
  const Run r = mpirun("hang");
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.says("rank 0: all_reduce: rank 0 of 2 waited 2 s for the other ranks to join"));
  CHECK(r.seconds < 30);  // rank 1 would sleep 60 s: mpirun ended it when rank 0 failed
}

TEST_CASE("a rank that dies: mpirun ends the job instead of leaving the other waiting") {
  const Run r = mpirun("die");
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.seconds < 60);  // rank 0 waits in an all_reduce with a 300 s timeout: it did not wait that out
}

TEST_CASE("NCCL: the collectives and DDP on GPU tensors, in a world of one and of two (skipped without the GPUs)") {
  for (int ranks : {1, 2}) {
    const Run r = mpirun("nccl", ranks);
    INFO(r.output);
    CHECK(r.status == 0);
    if (r.says("skipped")) {
      MESSAGE(ranks, " rank(s): ", r.output);
    } else {
      CHECK(r.says("rank 0 of " + std::to_string(ranks) + ": nccl ok on cuda:"));
    }
  }
}

TEST_CASE("mpirun -np 2 lacoot train: rank 0 reports and writes; a resumed run is bit-identical; any world size resumes") {
  const std::string dir = "/tmp/lacoot_mpi_train_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  const std::string lacoot = env("LACOOT");
  const std::string common = "train --model resnet18-cifar --dataset fashion-mnist --width 4 --epochs 1 --batch-size 32 "
                             "--val-size 500 --lambda 1 --threads 1 --checkpoint-every 3 ";
  // Uninterrupted: 8 steps on 2 processes.
  Run whole = launch(2, lacoot, common + "--max-steps 8 --out " + dir + "/whole");
  INFO(whole.output);
  REQUIRE(whole.status == 0);
  CHECK(count(whole.output, "lacoot train: resnet18-cifar") == 1);  // one report, from rank 0
  CHECK(whole.says("1 threads in each of 2 processes (mpi)"));
  CHECK(read_bytes(dir + "/whole/summary.json").find("\"processes\": 2") != std::string::npos);
  // Stopped after 4 steps, resumed on 2 processes: the same weights to the bit.
  Run first = launch(2, lacoot, common + "--max-steps 4 --out " + dir + "/resumed");
  REQUIRE_MESSAGE(first.status == 0, first.output);
  Run second = launch(2, lacoot, common + "--max-steps 8 --resume --out " + dir + "/resumed");
  REQUIRE_MESSAGE(second.status == 0, second.output);
  CHECK(second.says("resumed from"));
  const std::string a = read_bytes(dir + "/whole/model.safetensors"), b = read_bytes(dir + "/resumed/model.safetensors");
  CHECK(!a.empty());
  CHECK_MESSAGE(a == b, "model.safetensors of the resumed 2-process run differs from the uninterrupted one");
  // A checkpoint of 2 processes resumes in one (the global batch is the same; BatchNorm sees all of it now).
  Run one = launch(0, lacoot, common + "--max-steps 10 --resume --out " + dir + "/resumed");
  CHECK_MESSAGE(one.status == 0, one.output);
  CHECK(one.says("resumed from"));
  CHECK(read_bytes(dir + "/resumed/summary.json").find("\"steps\": 10") != std::string::npos);
  // A global batch that does not split evenly is refused before any work.
  Run odd = launch(2, lacoot, common + "--batch-size 33 --max-steps 2 --out " + dir + "/odd");
  CHECK(odd.status != 0);
  CHECK_MESSAGE(odd.says("--batch-size 33 does not split evenly among 2 processes"), odd.output);
  std::filesystem::remove_all(dir);
}

TEST_CASE("mpirun -np 2 lacoot train --sync-bn --regulariser-batch global takes one process's steps") {
  // SyncBatchNorm and the gathered regulariser make 2 processes of 16 images the same function of
  // the weights as one process of 32; the per-rank distance (local, the control) does not. At
  // lr 0.01: at the recipe's 0.1 a width-4 ResNet amplifies float rounding within a few steps (a
  // max-pool's or the max over directions' choice flips), which would hide what is compared.
  const std::string dir = "/tmp/lacoot_mpi_global_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  const std::string lacoot = env("LACOOT");
  const std::string common = "train --model resnet18-cifar --dataset fashion-mnist --width 4 --epochs 1 --batch-size 32 "
                             "--lr 0.01 --val-size 500 --lambda 1 --threads 1 --max-steps 4 ";
  auto largest_difference = [&](const std::string& run) {
    const lacoot::Safetensors a = lacoot::load_safetensors(dir + "/" + run + "/model.safetensors");
    const lacoot::Safetensors b = lacoot::load_safetensors(dir + "/one/model.safetensors");
    REQUIRE(a.tensors.size() == b.tensors.size());
    double worst = 0;
    for (const auto& [name, t] : a.tensors) {
      const lacoot::Tensor* other = b.find(name);
      REQUIRE_MESSAGE(other != nullptr, name);
      const lacoot::Tensor u = t.to(lacoot::kFloat64), v = other->to(lacoot::kFloat64);
      REQUIRE(u.numel() == v.numel());
      for (int64_t i = 0; i < u.numel(); ++i) worst = std::max(worst, std::abs(u.data<double>()[i] - v.data<double>()[i]));
    }
    return worst;
  };
  Run one = launch(0, lacoot, common + "--out " + dir + "/one");
  REQUIRE_MESSAGE(one.status == 0, one.output);
  Run global = launch(2, lacoot, common + "--sync-bn --regulariser-batch global --bucket-cap-mb 0.01 --out " + dir + "/global");
  REQUIRE_MESSAGE(global.status == 0, global.output);
  Run local = launch(2, lacoot, common + "--sync-bn --out " + dir + "/local");
  REQUIRE_MESSAGE(local.status == 0, local.output);
  const double global_diff = largest_difference("global"), local_diff = largest_difference("local");
  MESSAGE("largest difference of a weight or buffer from one process after 4 steps on 2 processes: ", global_diff,
          " (global), ", local_diff, " (local)");
  CHECK(global_diff < 1e-4);
  CHECK(local_diff > 1e-2);
  const std::string summary = read_bytes(dir + "/global/summary.json");
  CHECK(summary.find("\"sync_bn\": true") != std::string::npos);
  CHECK(summary.find("\"regulariser_batch\": \"global\"") != std::string::npos);
  CHECK(summary.find("\"communication_share\": ") != std::string::npos);
  Run bad = launch(2, lacoot, common + "--regulariser-batch both --out " + dir + "/bad");
  CHECK(bad.status != 0);
  CHECK_MESSAGE(bad.says("--regulariser-batch must be local or global"), bad.output);
  std::filesystem::remove_all(dir);
}
