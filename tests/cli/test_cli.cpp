// Tests for the `lacoot` program (tools/lacoot.cpp), run as a user runs it.
//
// `lacoot run` on weights and inputs written here must print torchvision's logits
// (tests/fixtures/models_fixtures.hpp, the same deterministic weights as the model tests) within
// 1e-4 in float32; bad input must give a one-line error naming the problem and exit status 1,
// a bad command line status 2. The program's path comes from the environment (LACOOT, set by
// tests/meson.build).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include "../fixtures/ot_fixtures.hpp"
#include "../models/reference.hpp"
#include "lacoot/io/npy.hpp"
#include "lacoot/io/safetensors.hpp"
#include "lacoot/models/mobilenet_v2.hpp"
#include "lacoot/models/resnet.hpp"

using namespace lacoot;
using namespace lacoot::test;
namespace fs = std::filesystem;

namespace {

struct Result {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs `lacoot <args>` through the shell and returns its exit status and output.
Result run_lacoot(const std::string& args) {
  const char* exe = std::getenv("LACOOT");
  REQUIRE_MESSAGE(exe != nullptr, "set LACOOT to the lacoot program (meson test does)");
  const fs::path log = fs::temp_directory_path() / ("lacoot_cli_" + std::to_string(::getpid()) + ".log");
  const int raw = std::system((std::string(exe) + " " + args + " > " + log.string() + " 2>&1").c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  fs::remove(log);
  return r;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("lacoot_cli_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

}  // namespace

TEST_CASE("lacoot run: torchvision's logits from saved weights and a .npy input") {
  using Case = fixtures::models::resnet18_cifar;
  TempDir dir;
  auto model = models::resnet18_cifar();
  fill_state(*model);
  save_safetensors(dir / "w.safetensors", model->state_dict());
  const Shape shape(Case::input_shape.begin(), Case::input_shape.end());
  save_npy(dir / "x.npy", alias_with_shape(hash_uniform(numel(shape), 1000, kFloat32) * 4.0, shape));

  Result r = run_lacoot("run --model resnet18-cifar --weights " + dir / "w.safetensors" + " --input " + dir / "x.npy" +
                    " --output " + dir / "y.npy");
  INFO(r.output);
  REQUIRE(r.status == 0);
  Tensor y = load_npy(dir / "y.npy");
  CHECK(y.shape() == Shape{2, 10});
  check_close(y, Case::eval_logits, 1e-4);

  // One image at a time gives the same logits (eval mode: no batch statistics).
  r = run_lacoot("run --model resnet18-cifar --batch-size 1 --weights " + dir / "w.safetensors" + " --input " +
             dir / "x.npy" + " --output " + dir / "y1.npy");
  REQUIRE(r.status == 0);
  CHECK(max_abs_diff(load_npy(dir / "y1.npy"), y) < 1e-5);
}

TEST_CASE("lacoot run: bad input is one clear line and exit status 1; a bad command line is status 2") {
  TempDir dir;
  save_safetensors(dir / "mnv2.safetensors", models::mobilenet_v2_cifar()->state_dict());
  save_npy(dir / "x.npy", randn({1, 3, 32, 32}));

  Result r = run_lacoot("run --model resnet18-cifar --weights " + dir / "missing.safetensors" + " --input " +
                    dir / "x.npy" + " --output " + dir / "y.npy");
  CHECK(r.status == 1);
  CHECK(r.output.find("missing.safetensors") != std::string::npos);

  r = run_lacoot("run --model resnet18-cifar --weights " + dir / "mnv2.safetensors" + " --input " + dir / "x.npy" +
             " --output " + dir / "y.npy");
  CHECK(r.status == 1);
  CHECK(r.output.find("missing keys") != std::string::npos);  // weights for another architecture
  CHECK(r.output.find("conv1.weight") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "y.npy"));

  r = run_lacoot("run --model resnet99 --weights " + dir / "mnv2.safetensors" + " --input " + dir / "x.npy" +
             " --output " + dir / "y.npy");
  CHECK(r.status == 1);
  CHECK(r.output.find("unknown model \"resnet99\"") != std::string::npos);

  CHECK(run_lacoot("run --model resnet18-cifar --bogus 1").status == 2);
  CHECK(run_lacoot("run --model resnet18-cifar").output.find("missing required option --weights") != std::string::npos);
  CHECK(run_lacoot("frobnicate").status == 2);
  Result help = run_lacoot("--help");
  CHECK(help.status == 0);
  CHECK(help.output.find("lacoot train") == std::string::npos);  // usage lists commands, not a banner
  CHECK(help.output.find("train   train a model") != std::string::npos);
}

TEST_CASE("lacoot train: a few steps write model.safetensors, log.csv and summary.json") {
  TempDir dir;
  Result r = run_lacoot("train --model resnet18-cifar --dataset fashion-mnist --width 8 --epochs 1 --max-steps 3 "
                    "--batch-size 32 --threads 2 --out " + dir / "run");
  INFO(r.output);
  REQUIRE(r.status == 0);
  Safetensors w = load_safetensors(dir / "run/model.safetensors");
  CHECK(w.find("layer4.1.conv2.weight") != nullptr);
  CHECK(*w.find_metadata("model") == "resnet18-cifar");
  Json summary = parse_json(read_file(dir / "run/summary.json"));
  CHECK(summary.find("steps")->as_int64() == 3);
  for (const char* key : {"test_top1", "val_top1", "train_seconds", "images_per_second"}) CHECK(summary.find(key));
  const std::string log = read_file(dir / "run/log.csv");
  CHECK(log.rfind("epoch,lr,train_loss", 0) == 0);
  CHECK(std::count(log.begin(), log.end(), '\n') == 2);  // the header and one epoch

  r = run_lacoot("train --model resnet18-cifar --dataset cifar10:" + dir / "nowhere" + " --out " + dir / "run2");
  CHECK(r.status == 1);
  CHECK(r.output.find("nowhere") != std::string::npos);
}

TEST_CASE("lacoot train --resume continues exactly: stopped at step 6 and resumed equals 10 steps straight") {
  // With the regulariser on, so that its directions' generator is resumed too.
  TempDir dir;
  const std::string common = "train --model resnet18-cifar --dataset fashion-mnist --width 8 --batch-size 32 "
                             "--threads 2 --epochs 2 --lambda 0.5 ";
  REQUIRE(run_lacoot(common + "--max-steps 10 --out " + dir / "straight").status == 0);
  Result first = run_lacoot(common + "--max-steps 6 --checkpoint-every 4 --out " + dir / "stopped");
  INFO(first.output);
  REQUIRE(first.status == 0);
  Result second = run_lacoot(common + "--max-steps 10 --resume --out " + dir / "stopped");
  INFO(second.output);
  REQUIRE(second.status == 0);
  CHECK(second.output.find("resumed from") != std::string::npos);
  CHECK(read_file(dir / "straight/model.safetensors") == read_file(dir / "stopped/model.safetensors"));
  CHECK(parse_json(read_file(dir / "stopped/summary.json")).find("steps")->as_int64() == 10);
  const std::string log = read_file(dir / "straight/log.csv");
  CHECK(log.find("train_reg,") != std::string::npos);
  CHECK(log.find(",train_maxswd_layer1.1,val_maxswd_layer1.1,") != std::string::npos);
  CHECK(log.find("val_maxswd_layer4.1\n") != std::string::npos);

  Result none = run_lacoot(common + "--resume --out " + dir / "fresh");
  CHECK(none.status == 1);
  CHECK(none.output.find("no checkpoint") != std::string::npos);
}

TEST_CASE("lacoot maxswd: POT's max_sliced_wasserstein_distance given the same projections") {
  namespace fx = fixtures::ot;
  TempDir dir;
  save_npy(dir / "x.npy", from(fx::case5::x, {fx::case5::n, fx::case5::d}));
  save_npy(dir / "y.npy", from(fx::case5::y, {fx::case5::m, fx::case5::d}));
  save_npy(dir / "p.npy", from(fx::case5::projections, {fx::case5::d, fx::case5::K}) * 3.0);  // normalised by the tool
  Result r = run_lacoot("maxswd --x " + dir / "x.npy" + " --y " + dir / "y.npy" + " --projections " + dir / "p.npy");
  INFO(r.output);
  REQUIRE(r.status == 0);
  const std::string last = r.output.substr(r.output.rfind('\n', r.output.size() - 2) + 1);
  CHECK(std::stod(last) == doctest::Approx(fx::case5::max_distance).epsilon(1e-12));

  Result drawn = run_lacoot("maxswd --x " + dir / "x.npy" + " --y " + dir / "y.npy" + " --n-projections 200 --seed 1 --optimise");
  REQUIRE(drawn.status == 0);
  CHECK(drawn.output.find("optimised direction") != std::string::npos);
  CHECK(run_lacoot("maxswd --x " + dir / "x.npy" + " --y " + dir / "p.npy").status == 1);  // d = 20 against 30
}

TEST_CASE("lacoot profile: the paper's MACs, dense and collapsed, as text and JSON") {
  Result r = run_lacoot("profile --model resnet18-cifar --input-shape 3,32,32 --json");
  INFO(r.output);
  REQUIRE(r.status == 0);
  Json j = parse_json(r.output);
  CHECK(j.find("macs")->as_int64() == 140186634);
  CHECK(j.find("params")->as_int64() == 11173962);
  CHECK(j.find("cpl")->as_int64() == 18);
  CHECK(j.find("removable")->size() == 4);
  r = run_lacoot("profile --model resnet18-cifar --input-shape 3,32,32 --json --remove layer1.1,layer2.1,layer3.1,layer4.1");
  REQUIRE(r.status == 0);
  CHECK(parse_json(r.output).find("macs")->as_int64() == 64689162);
  CHECK(run_lacoot("profile --model resnet18-cifar --input-shape 3,32,32").output.find("140") != std::string::npos);
  r = run_lacoot("profile --model resnet18-cifar --input-shape 3,32,32 --remove layer9.1");
  CHECK(r.status == 1);
  CHECK(r.output.find("layer1.1") != std::string::npos);  // the error lists the removable blocks
}

TEST_CASE("lacoot collapse: Algorithm 1 on a briefly trained model writes the trajectory, plots and weights") {
  TempDir dir;
  Result t = run_lacoot("train --model resnet18-cifar --dataset fashion-mnist --width 8 --batch-size 64 --threads 2 "
                        "--epochs 1 --max-steps 30 --lambda 1 --val-size 512 --out " + dir / "run");
  INFO(t.output);
  REQUIRE(t.status == 0);
  Result r = run_lacoot("collapse --model resnet18-cifar --weights " + dir / "run/model.safetensors" +
                        " --dataset fashion-mnist --val-size 512 --latency 0 --delta 100 --threads 2 --out " + dir / "col");
  INFO(r.output);
  REQUIRE(r.status == 0);
  Json j = parse_json(read_file(dir / "col/trajectory.json"));
  const Json& steps = *j.find("steps");
  REQUIRE(steps.size() == 5);  // dense, then the 4 blocks one by one
  CHECK(j.find("chosen")->as_int64() == 4);  // δ = 100 points: every removal is within it
  for (std::size_t s = 0; s < 5; ++s) {
    // Width 8 is 1/8 of the channels: MACs differ from the full model's, but each removal of a
    // stage's second block lowers them, and the CPL drops by 2 per block.
    CAPTURE(s);
    CHECK(steps.as_array()[s].find("removed")->size() == s);
    CHECK(steps.as_array()[s].find("cpl")->as_double() == 18.0 - 2.0 * static_cast<double>(s));
    if (s > 0) CHECK(steps.as_array()[s].find("macs")->as_double() < steps.as_array()[s - 1].find("macs")->as_double());
  }
  CHECK(read_file(dir / "col/trajectory.csv").rfind("step,removed,val_top1,test_top1,macs,params,cpl", 0) == 0);
  CHECK(read_file(dir / "col/accuracy_vs_macs.svg").find("<polyline") != std::string::npos);
  CHECK(fs::exists(dir / "col/accuracy_vs_blocks_removed.svg"));
  // The collapsed weights: smaller, and `lacoot run` rebuilds the collapsed model from their metadata.
  CHECK(fs::file_size(dir / "col/model.safetensors") < fs::file_size(dir / "run/model.safetensors"));
  save_npy(dir / "x.npy", randn({3, 1, 32, 32}));
  Result run = run_lacoot("run --model resnet18-cifar --weights " + dir / "col/model.safetensors" + " --input " +
                          dir / "x.npy" + " --output " + dir / "y.npy");
  INFO(run.output);
  CHECK(run.status == 0);
  CHECK(load_npy(dir / "y.npy").shape() == Shape{3, 10});
  CHECK(run_lacoot("collapse --model resnet18-cifar --weights " + dir / "run/model.safetensors" +
                   " --dataset fashion-mnist --method greedy --out " + dir / "bad").status == 1);
}
