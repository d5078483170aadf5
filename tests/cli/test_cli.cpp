// Tests for the `lacoot` program (tools/lacoot.cpp), run as a user runs it.
//
// `lacoot run` on weights and inputs written here must print torchvision's logits
// (tests/fixtures/models_fixtures.hpp and swin_fixtures.hpp, the same deterministic weights as
// the model tests) within 1e-4 in float32; bad input must give a one-line error naming the problem and exit status 1,
// a bad command line status 2. The program's path comes from the environment (LACOOT, set by
// tests/meson.build).
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include "../data/tiny_imagenet_writer.hpp"
#include "../fixtures/ot_fixtures.hpp"
#include "../fixtures/swin_fixtures.hpp"
#include "../models/reference.hpp"
#include "lacoot/io/npy.hpp"
#include "lacoot/io/safetensors.hpp"
#include "lacoot/models/mobilenet_v2.hpp"
#include "lacoot/models/resnet.hpp"
#include "lacoot/models/swin.hpp"
#include "lacoot/train/checkpoint.hpp"

using namespace lacoot;
using namespace lacoot::test;
namespace fs = std::filesystem;

// All of this file is in a namespace of its own: tests/meson.build compiles it in one unit with
// examples/test_examples.cpp, whose helpers have the same names.
namespace cli_test {
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
  Result r = run_lacoot("train --model resnet18-cifar --dataset fashion-mnist --width 4 --epochs 1 --max-steps 3 "
                    "--batch-size 32 --val-size 512 --threads 2 --out " + dir / "run");
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

  // An output folder where nothing can be written is an error before any training.
  r = run_lacoot("train --model resnet18-cifar --dataset fashion-mnist --width 4 --max-steps 1 --out /proc/self");
  CHECK(r.status == 1);
  CHECK(r.output.find("--out: cannot write files in '/proc/self'") != std::string::npos);
  CHECK(r.output.find("epoch 1/") == std::string::npos);

  r = run_lacoot("train --model resnet18-cifar --dataset cifar10:" + dir / "nowhere" + " --out " + dir / "run2");
  CHECK(r.status == 1);
  CHECK(r.output.find("nowhere") != std::string::npos);

  // --device cuda trains on the GPU, or, where there is none, on the CPU after saying so once.
  r = run_lacoot("train --model resnet18-cifar --dataset fashion-mnist --width 4 --epochs 1 --max-steps 1 "
                 "--batch-size 32 --val-size 256 --device cuda --out " + dir / "run3");
  INFO(r.output);
  CHECK(r.status == 0);
  const bool on_cpu = r.output.find("was asked for, but") != std::string::npos;
  CHECK((on_cpu ? r.output.find("running on the CPU") : r.output.find(", cuda:0\n")) != std::string::npos);
  r = run_lacoot("train --model resnet18-cifar --dataset fashion-mnist --device gpu0 --out " + dir / "run4");
  CHECK(r.status == 1);
  CHECK(r.output.find("expected cpu, cuda or cuda:N") != std::string::npos);
}

TEST_CASE("lacoot train --resume continues exactly: stopped at step 6 and resumed equals 10 steps straight") {
  // With the regulariser on, so that its directions' generator is resumed too.
  TempDir dir;
  const std::string common = "train --model resnet18-cifar --dataset fashion-mnist --width 4 --batch-size 32 "
                             "--threads 2 --epochs 2 --lambda 0.5 --val-size 512 ";
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

TEST_CASE("lacoot train killed by SIGKILL mid-epoch and resumed ends bit-identical to a run never stopped") {
  // SIGKILL runs no handler and flushes nothing: all that survives is what was renamed into
  // place. The job runs in the background and is killed as soon as its first checkpoint (step
  // 4 of 40, every step inside epoch 1) is there; the exit status 137 shows it was killed, not
  // finished.
  TempDir dir;
  const std::string common = "train --model resnet18-cifar --dataset fashion-mnist --width 4 --batch-size 32 "
                             "--threads 2 --epochs 1 --lambda 0.5 --val-size 512 --max-steps 40 ";
  REQUIRE(run_lacoot(common + "--out " + dir / "straight").status == 0);
  REQUIRE(std::getenv("LACOOT") != nullptr);
  const std::string killed = dir / "killed", exe = std::getenv("LACOOT");
  const std::string script = "bash -c '" + exe + " " + common + "--checkpoint-every 4 --out " + killed +
                             " > /dev/null 2>&1 & job=$!; for i in $(seq 1200); do [ -e " + killed +
                             "/checkpoint.safetensors ] && break; sleep 0.05; done; { kill -9 $job; wait $job; } 2> /dev/null'";
  const int raw = std::system(script.c_str());
  REQUIRE(WIFEXITED(raw));
  REQUIRE_MESSAGE(WEXITSTATUS(raw) == 128 + SIGKILL, "the job was not killed mid-run: status ", WEXITSTATUS(raw));
  CHECK(!fs::exists(killed + "/summary.json"));
  Result resumed = run_lacoot(common + "--resume --out " + killed);
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.output.find("resumed from") != std::string::npos);
  CHECK(read_file(dir / "straight/model.safetensors") == read_file(killed + "/model.safetensors"));
}

TEST_CASE("lacoot train: a NaN loss stops the run naming the step and the last good checkpoint; or is skipped") {
  // lr 1e30: the first step's update overflows the weights, the second step's loss is NaN.
  TempDir dir;
  const std::string common = "train --model resnet18-cifar --dataset fashion-mnist --width 4 --batch-size 32 "
                             "--threads 2 --epochs 1 --lr 1e30 --val-size 256 --max-steps 6 --checkpoint-every 1 ";
  Result r = run_lacoot(common + "--out " + dir / "stop");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("training diverged: the loss is NaN at step 2 of the epoch") != std::string::npos);
  CHECK(r.output.find("the last good checkpoint is " + dir / "stop/checkpoint.safetensors" +
                      " (epoch 1, step 1 of it, 1 in all; --resume continues from it)") != std::string::npos);
  CHECK(train::load_checkpoint(dir / "stop/checkpoint.safetensors").global_step == 1);
  CHECK(!fs::exists(dir / "stop/model.safetensors"));

  r = run_lacoot(common + "--skip-nonfinite --out " + dir / "skip");
  CHECK(r.status == 0);
  const int64_t skipped = parse_json(read_file(dir / "skip/summary.json")).find("skipped_nonfinite")->as_int64();
  CHECK((skipped >= 1 && skipped <= 5));
  CHECK(r.output.find("epoch 1: skipped " + std::to_string(skipped) + " batches of NaN or infinite loss") !=
        std::string::npos);
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

TEST_CASE("lacoot profile: removable regions found in the graph, marked or not, and --remove takes them") {
  Result r = run_lacoot("profile --model resnet18-cifar --input-shape 3,32,32 --json");
  INFO(r.output);
  REQUIRE(r.status == 0);
  Json j = parse_json(r.output);
  CHECK(j.find("macs")->as_int64() == 140186634);  // the keys before are unchanged
  const Json* discovered = j.find("discovered");
  REQUIRE(discovered != nullptr);
  auto region = [&](const Json& d, const std::string& path) -> const Json* {
    for (const Json& e : d.as_array())
      if (e.find("path")->as_string() == path) return &e;
    return nullptr;
  };
  // Every declared block is found as a residual region; layer1.0 too (64x16x16 in and out, not
  // marked); the downsampling blocks are not. A BasicBlock: 2 · 9·64²·16² = 18,874,368 MACs.
  for (const Json& b : j.find("removable")->as_array()) {
    const Json* e = region(*discovered, b.as_string());
    REQUIRE_MESSAGE(e != nullptr, b.as_string());
    CHECK(e->find("kind")->as_string() == "residual");
    CHECK(e->find("declared")->as_bool());
  }
  const Json* l10 = region(*discovered, "layer1.0");
  REQUIRE(l10 != nullptr);
  CHECK(l10->find("kind")->as_string() == "residual");
  CHECK(l10->find("macs")->as_int64() == 18874368);
  CHECK_FALSE(l10->find("declared")->as_bool());
  for (const char* changing : {"layer2.0", "layer3.0", "layer4.0", "conv1", "fc"}) CHECK(region(*discovered, changing) == nullptr);

  r = run_lacoot("profile --model resnet18-cifar --input-shape 3,32,32 --json --remove layer1.0,layer4.1");
  REQUIRE(r.status == 0);
  CHECK(parse_json(r.output).find("macs")->as_int64() == 102437898);  // as for two declared blocks

  r = run_lacoot("profile --model mobilenet_v2-cifar --input-shape 3,32,32 --json");
  REQUIRE(r.status == 0);
  j = parse_json(r.output);
  int residual = 0;
  for (const Json& e : j.find("discovered")->as_array()) residual += e.find("kind")->as_string() == "residual";
  CHECK(residual == 10);  // the stride-1 InvertedResiduals whose channels stay
  const Json* f3 = region(*j.find("discovered"), "features.3");
  REQUIRE(f3 != nullptr);
  CHECK(f3->find("macs")->as_int64() == 8404992);  // 1,024·144·24 · 2 + 144·1,024·9

  r = run_lacoot("profile --model resnet18-cifar --input-shape 3,32,32");
  CHECK(r.output.find("discovered  19 removable regions") != std::string::npos);
  CHECK(r.output.find("layer1.1 *") != std::string::npos);
  r = run_lacoot("profile --model resnet18-cifar --input-shape 3,32,32 --remove layer2.0");
  CHECK(r.status == 1);
  CHECK(r.output.find("layer1.0") != std::string::npos);  // the error lists the discovered modules
}

TEST_CASE("lacoot collapse: Algorithm 1 on a briefly trained model writes the trajectory, plots and weights") {
  TempDir dir;
  Result t = run_lacoot("train --model resnet18-cifar --dataset fashion-mnist --width 4 --batch-size 64 --threads 2 "
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
    // Width 4 is 1/16 of the channels: MACs differ from the full model's, but each removal of a
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
  // The per-block table and its bars.
  const std::string blocks = read_file(dir / "col/blocks.csv");
  CHECK(blocks.rfind("block,macs,params,latency_saved_ms_batch1,latency_saved_ms_batch128,val_maxswd,val_sliced,val_cosine_bi\n", 0) == 0);
  for (const char* b : {"layer1.1,", "layer2.1,", "layer3.1,", "layer4.1,"}) CHECK(blocks.find(b) != std::string::npos);
  CHECK(read_file(dir / "col/block_distances.svg").find("<rect") != std::string::npos);

  // Several methods on fresh weights: the first is chosen; random runs each seed; the user's
  // order is followed; Figure 4 has one series per method.
  Result many = run_lacoot("collapse --model resnet18-cifar --weights " + dir / "run/model.safetensors" +
                           " --dataset fashion-mnist --val-size 512 --latency 0 --delta 100 --threads 2 --method "
                           "maxswd,random,order --random-seeds 2 --order layer4.1,layer1.1 --out " + dir / "many");
  INFO(many.output);
  REQUIRE(many.status == 0);
  Json all = parse_json(read_file(dir / "many/trajectories.json"));
  const auto& runs = all.find("runs")->as_array();
  REQUIRE(runs.size() == 4);
  CHECK(runs[0].find("method")->as_string() == "maxswd");
  CHECK(runs[1].find("method")->as_string() == "random");
  CHECK(runs[2].find("seed")->as_int64() == 1);
  const auto& ordered = runs[3].find("steps")->as_array();
  REQUIRE(ordered.size() == 3);  // dense, layer4.1, then layer1.1; the two blocks not named stay
  CHECK(ordered[2].find("removed")->as_array()[0].as_string() == "layer4.1");
  CHECK(ordered[2].find("removed")->as_array()[1].as_string() == "layer1.1");
  const auto& random_mean = all.find("mean_over_seeds")->find("random")->as_array();
  REQUIRE(random_mean.size() == 5);
  CHECK(random_mean[4].find("runs")->as_int64() == 2);
  CHECK(random_mean[4].find("cpl")->as_double() == 10.0);
  // The first run's own files are those of a single-method run.
  CHECK(parse_json(read_file(dir / "many/trajectory.json")).find("method")->as_string() == "maxswd");
  const std::string fig4 = read_file(dir / "many/accuracy_vs_cpl.svg");
  for (const char* name : {">maxswd<", ">random (2 seeds)<", ">order<"}) CHECK(fig4.find(name) != std::string::npos);
  CHECK(fig4.find("<path d=\"M") != std::string::npos);  // random's ± std bars
  CHECK(read_file(dir / "many/trajectories.csv").rfind("method,seed,step,removed,val_top1,test_top1,macs", 0) == 0);

  // A latency budget the dense model meets removes nothing; one no model meets removes all.
  Result loose = run_lacoot("collapse --model resnet18-cifar --weights " + dir / "run/model.safetensors" +
                            " --dataset fashion-mnist --val-size 512 --delta 100 --threads 2 --method order --order "
                            "layer4.1 --latency-budget 1e9 --out " + dir / "budget");
  INFO(loose.output);
  REQUIRE(loose.status == 0);
  Json b = parse_json(read_file(dir / "budget/trajectory.json"));
  CHECK(b.find("steps")->size() == 1);
  CHECK(b.find("latency_budget_met")->as_bool());
  CHECK(loose.output.find("met at step 0") != std::string::npos);
  CHECK(b.find("steps")->as_array()[0].find("latency_ms_batch128")->as_double() > 0);
  CHECK(run_lacoot("collapse --model resnet18-cifar --weights " + dir / "run/model.safetensors" +
                   " --dataset fashion-mnist --latency 0 --latency-budget 5 --out " + dir / "bad").status == 2);
  CHECK(run_lacoot("collapse --model resnet18-cifar --weights " + dir / "run/model.safetensors" +
                   " --dataset fashion-mnist --method order --out " + dir / "bad").status == 2);

  // An unknown method is a mistake on the command line (status 2), named with the valid ones.
  Result bad = run_lacoot("collapse --model resnet18-cifar --weights " + dir / "run/model.safetensors" +
                          " --dataset fashion-mnist --method greedy --out " + dir / "bad");
  CHECK(bad.status == 2);
  CHECK(bad.output.find("unknown removal method \"greedy\" (expected maxswd, sliced, zscore, cosine, block-influence, "
                        "random or order)") != std::string::npos);
}

TEST_CASE("lacoot with swin_t: profile gives spec 4.2's MACs, run torchvision's logits; train and collapse run") {
  Result r = run_lacoot("profile --model swin_t --input-shape 3,32,32 --num-classes 10 --json");
  INFO(r.output);
  REQUIRE(r.status == 0);
  Json j = parse_json(r.output);
  CHECK(j.find("macs")->as_int64() == 519087370);  // conv, linear (padded windows) and attention's matmuls
  CHECK(j.find("params")->as_int64() == 27527044);
  CHECK(j.find("removable")->size() == 12);

  using Case = fixtures::swin::swin_t_32;
  TempDir dir;
  auto model = models::swin_t({.num_classes = 10});
  fill_state(*model);
  save_safetensors(dir / "w.safetensors", model->state_dict());
  const Shape shape(Case::input_shape.begin(), Case::input_shape.end());
  save_npy(dir / "x.npy", alias_with_shape(hash_uniform(numel(shape), 1000, kFloat32) * 4.0, shape));
  r = run_lacoot("run --model swin_t --weights " + dir / "w.safetensors" + " --input " + dir / "x.npy" + " --output " +
                 dir / "y.npy");
  INFO(r.output);
  REQUIRE(r.status == 0);
  check_close(load_npy(dir / "y.npy"), Case::eval_logits, 1e-4);

  // Two classes of 16x16 images in the Tiny-ImageNet layout: the images enter unresized, as the
  // reference feeds Swin-T; Swin-T's recipe has lr 1e-3.
  write_tiny_imagenet(dir / "tiny", 2, 3, 1, 16);
  Result t = run_lacoot("train --model swin_t --dataset tiny-imagenet:" + dir / "tiny" + " --epochs 1 --max-steps 2 "
                        "--batch-size 2 --lambda 1 --val-size 2 --threads 2 --out " + dir / "run");
  INFO(t.output);
  REQUIRE(t.status == 0);
  CHECK(t.output.find("lr 0.001") != std::string::npos);
  CHECK(read_file(dir / "run/log.csv").find("train_maxswd_features.7.1,val_maxswd_features.7.1") != std::string::npos);
  Result c = run_lacoot("collapse --model swin_t --weights " + dir / "run/model.safetensors" + " --dataset tiny-imagenet:" +
                        dir / "tiny" + " --val-size 2 --latency 0 --delta 100 --threads 2 --out " + dir / "col");
  INFO(c.output);
  REQUIRE(c.status == 0);
  CHECK(parse_json(read_file(dir / "col/trajectory.json")).find("steps")->size() == 13);  // dense, then 12 blocks
  r = run_lacoot("run --model swin_t --weights " + dir / "col/model.safetensors" + " --input " + dir / "x.npy" +
                 " --output " + dir / "yc.npy");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(load_npy(dir / "yc.npy").shape() == Shape{1, 2});
}

TEST_CASE("lacoot with the DiTs: profile gives spec 5.1's MACs on latents; train, run and collapse refuse them") {
  auto has = [](const Result& r, const std::string& s) { return r.output.find(s) != std::string::npos; };
  Result r = run_lacoot("profile --model dit-s2 --input-shape 4,32,32 --json");
  INFO(r.output);
  REQUIRE(r.status == 0);
  Json j = parse_json(r.output);
  CHECK(j.find("macs")->as_int64() == 5462446592 + 603979776);  // conv + linear, attention (§5.1)
  CHECK(j.find("params")->as_int64() == 32963360);
  CHECK(j.find("removable")->size() == 12);
  // A block of DiT-S/2 at T = 256: 6D² + 6D + T(12D² + 9D) + 2T²D with D = 384.
  r = run_lacoot("profile --model dit-s2 --input-shape 4,32,32 --json --remove blocks.4,blocks.7");
  REQUIRE(r.status == 0);
  const int64_t D = 384, T = 256, block = 6 * D * D + 6 * D + T * (12 * D * D + 9 * D) + 2 * T * T * D;
  CHECK(parse_json(r.output).find("macs")->as_int64() == 5462446592 + 603979776 - 2 * block);
  CHECK(parse_json(r.output).find("removable")->size() == 10);

  r = run_lacoot("profile --model dit-s2 --input-shape 4,32,16");
  CHECK(r.status == 2);
  CHECK(has(r, "square latents"));
  r = run_lacoot("train --model dit-b2 --dataset fashion-mnist --out " + TempDir() / "out");
  CHECK(r.status == 1);
  CHECK(has(r, "lacoot train takes classifiers; dit-b2 is a diffusion transformer"));
  r = run_lacoot("run --model dit-l2 --weights w.safetensors --input x.npy --output y.npy");
  CHECK(r.status == 1);
  CHECK(has(r, "lacoot run takes classifiers"));
}

}  // namespace cli_test
