// Tests for the example programs (examples/*.cpp), run as a reader runs them.
//
// Each training example gets a tiny dataset in its real on-disk format, written here (CIFAR-10
// binary batches; an ImageFolder of PNGs and a safetensors file of ResNet-18 weights), trains
// for --max-steps 2 and must exit with status 0, having written a weights file that loads
// strictly into its model. Bad input must give a one-line error naming the path and status 1,
// an unknown option status 2. The programs are found in $LACOOT_EXAMPLES, the build's
// examples/ folder (tests/meson.build sets it; it is empty under -Dexamples=false, which skips
// these tests).
#include <doctest/doctest.h>

#include <stb_image_write.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "../check.hpp"
#include "../data/data_test_util.hpp"
#include "lacoot/io/safetensors.hpp"
#include "lacoot/models/mobilenet_v2.hpp"
#include "lacoot/models/resnet.hpp"
#include "lacoot/models/vgg.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

struct Result {
  int status = -1;
  std::string output;  // stdout and stderr together
  int64_t lines() const { return std::count(output.begin(), output.end(), '\n'); }
  bool says(const std::string& s) const { return output.find(s) != std::string::npos; }
};

// The folder holding the example programs; empty when the build has none.
std::string examples_dir() {
  const char* dir = std::getenv("LACOOT_EXAMPLES");
  return dir ? dir : "";
}

// Runs `examples/<name> <args>` through the shell and returns its exit status and output.
Result run_example(const std::string& name, const std::string& args) {
  const fs::path exe = fs::path(examples_dir()) / name;
  REQUIRE_MESSAGE(fs::exists(exe), exe.string() << " is missing (build it: meson compile -C BUILD examples/" << name
                                                << "; meson test rebuilds only the test programs)");
  TempDir logs("examples_log");
  const fs::path log = logs / "out.log";
  const int raw = std::system((exe.string() + " " + args + " > " + log.string() + " 2>&1").c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

// CIFAR-10's binary version in `dir`: data_batch_1..5.bin with `per_batch` records each,
// test_batch.bin with `test` records, and batches.meta.txt. A record is 3073 bytes: the label
// (0..9), then 1024 red, 1024 green and 1024 blue bytes (32x32, row-major).
void write_cifar10(const fs::path& dir, int per_batch, int test) {
  int record_index = 0;
  auto batch = [&](int records) {
    std::vector<uint8_t> bytes;
    for (int r = 0; r < records; ++r, ++record_index) {
      bytes.push_back(static_cast<uint8_t>(record_index % 10));
      for (int i = 0; i < 3072; ++i) bytes.push_back(static_cast<uint8_t>((i * 7 + record_index * 31) % 256));
    }
    return bytes;
  };
  for (int b = 1; b <= 5; ++b) write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), batch(per_batch));
  write_bytes(dir / "test_batch.bin", batch(test));
  write_text(dir / "batches.meta.txt", "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
}

// An 8x8 RGB PNG, its pixels a pattern set by `seed`.
void write_png(const fs::path& path, int seed) {
  std::vector<uint8_t> pixels(8 * 8 * 3);
  for (std::size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<uint8_t>((i * 23 + static_cast<std::size_t>(seed) * 41) % 251);
  fs::create_directories(path.parent_path());
  REQUIRE(stbi_write_png(path.string().c_str(), 8, 8, 3, pixels.data(), 8 * 3) != 0);
}

// Examples 3 to 5: 2 steps of batch 2 on 10 training records (2 held out), 2 test records.
void check_cifar_example(const std::string& name, const std::function<nn::ModulePtr()>& make_model,
                         const std::string& model_name) {
  TempDir dir("examples_cifar");
  write_cifar10(dir / "cifar-10-batches-bin", /*per_batch=*/2, /*test=*/2);
  const std::string out = (dir / "w.safetensors").string();
  Result r = run_example(name, "--data " + dir.path().string() + " --max-steps 2 --batch-size 2 --val-size 2 "
                               "--threads 2 --out " + out);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.says("epoch 1: lr 0."));
  CHECK_FALSE(r.says("epoch 2:"));  // --max-steps 2 ends the run within the first epoch (4 steps)
  CHECK(r.says("test top-1"));
  Safetensors w = load_safetensors(out);
  CHECK(*w.find_metadata("model") == model_name);
  CHECK_NOTHROW(make_model()->load_state_dict(w.tensors, /*strict=*/true));

  // Bad input: a --data folder that does not exist, an unknown option, no --data, a bad size.
  r = run_example(name, "--data " + (dir / "nowhere").string() + " --max-steps 2");
  CHECK(r.status == 1);
  CHECK(r.says((dir / "nowhere").string()));
  CHECK(r.lines() == 1);
  CHECK(r.says(name + ": "));
  CHECK(run_example(name, "--data " + dir.path().string() + " --bogus 1").status == 2);
  r = run_example(name, "--max-steps 2");
  CHECK(r.status == 2);
  CHECK(r.says("missing required option --data"));
  r = run_example(name, "--data " + dir.path().string() + " --val-size 10");
  CHECK(r.status == 1);
  CHECK(r.says("--val-size"));
}

}  // namespace

TEST_CASE("example 3, resnet18_cifar10: trains on CIFAR-10 batches and saves weights that load") {
  if (examples_dir().empty()) {
    MESSAGE("examples not built (-Dexamples=false): skipped");
    return;
  }
  check_cifar_example("resnet18_cifar10", [] { return models::resnet18_cifar({.num_classes = 10}); }, "resnet18-cifar");
}

TEST_CASE("example 4, mobilenetv2_cifar10: trains on CIFAR-10 batches and saves weights that load") {
  if (examples_dir().empty()) {
    MESSAGE("examples not built (-Dexamples=false): skipped");
    return;
  }
  check_cifar_example("mobilenetv2_cifar10", [] { return models::mobilenet_v2_cifar({.num_classes = 10}); },
                      "mobilenet_v2-cifar");
}

TEST_CASE("example 5, vgg16_cifar10: trains on CIFAR-10 batches and saves weights that load") {
  if (examples_dir().empty()) {
    MESSAGE("examples not built (-Dexamples=false): skipped");
    return;
  }
  check_cifar_example("vgg16_cifar10", [] { return models::vgg16_bn({.num_classes = 10, .cifar_head = true}); },
                      "vgg16_bn-cifar");
}

TEST_CASE("example 6, resnet18_imagefolder: fine-tunes given ResNet-18 weights with a new head") {
  if (examples_dir().empty()) {
    MESSAGE("examples not built (-Dexamples=false): skipped");
    return;
  }
  TempDir dir("examples_folder");
  // Two classes: 3 training images each (one of the 6 held out for validation), 1 test image each.
  for (int c = 0; c < 2; ++c) {
    const std::string cls = c == 0 ? "cat" : "dog";
    for (int i = 0; i < 3; ++i) write_png(dir / "data/train" / cls / (std::to_string(i) + ".png"), 3 * c + i);
    write_png(dir / "data/test" / cls / "0.png", 6 + c);
  }
  // "ImageNet" weights: lacoot's own 1000-class ResNet-18, drawn with another seed than the
  // example's, so that what the example saves shows whether they were loaded.
  manual_seed(123);
  auto imagenet = models::resnet18();
  const std::string weights = (dir / "imagenet.safetensors").string(), out = (dir / "w.safetensors").string();
  save_safetensors(weights, imagenet->state_dict());

  const std::string data = " --data " + (dir / "data").string();
  Result r = run_example("resnet18_imagefolder", "--weights " + weights + data +
                                                     " --max-steps 2 --batch-size 2 --threads 2 --out " + out);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.says("2 classes: 5 training, 1 validation, 2 test images"));
  CHECK_FALSE(r.says("epoch 2:"));
  Safetensors w = load_safetensors(out);
  auto model = models::resnet18({.num_classes = 2});
  CHECK_NOTHROW(model->load_state_dict(w.tensors, /*strict=*/true));
  // Two Adam steps of lr 1e-4 move each weight by about 1e-4 at most: conv1 is the file's, trained.
  const double moved = max_abs_diff(*w.find("conv1.weight"), imagenet->conv1->weight);
  CHECK(moved > 0);
  CHECK(moved < 1e-3);
  CHECK(w.find("fc.weight")->shape() == Shape{2, 512});

  // Bad input: no such --data folder or --weights file; weights of another network; options.
  r = run_example("resnet18_imagefolder", "--weights " + weights + " --data " + (dir / "nowhere").string());
  CHECK(r.status == 1);
  CHECK(r.says((dir / "nowhere").string()));
  CHECK(r.lines() == 1);
  r = run_example("resnet18_imagefolder", "--weights " + (dir / "absent.safetensors").string() + data);
  CHECK(r.status == 1);
  CHECK(r.says("absent.safetensors"));
  save_safetensors((dir / "other.safetensors").string(), {{"features.0.0.weight", zeros({32, 3, 3, 3})}});
  r = run_example("resnet18_imagefolder", "--weights " + (dir / "other.safetensors").string() + data);
  CHECK(r.status == 1);
  CHECK(r.says("is not torchvision's resnet18"));
  CHECK(r.says("export_torchvision.py"));
  CHECK(run_example("resnet18_imagefolder", "--weights " + weights + data + " --bogus 1").status == 2);
  CHECK(run_example("resnet18_imagefolder", data).status == 2);  // --weights is required
}
