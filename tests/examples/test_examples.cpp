// Tests for the example programs (examples/*.cpp), run as a reader runs them.
//
// Each training example gets a tiny dataset in its real on-disk format, written here (CIFAR-10
// binary batches; an ImageFolder of PNGs and a safetensors file of ResNet-18 weights; a
// Tiny-ImageNet folder of 16x16 JPEGs and Swin-T weights), trains
// for --max-steps 2 and must exit with status 0, having written a weights file that loads
// strictly into its model. Bad input must give a one-line error naming the path and status 1,
// an unknown option status 2. The programs are found in $LACOOT_EXAMPLES, the build's
// examples/ folder (tests/meson.build sets it; it is empty under -Dexamples=false, which skips
// these tests). Example 8 (dit_fashion_mnist) runs its whole pipeline in miniature on the
// installed Fashion-MNIST. The teaching example 7 (ot_regularisation) runs in full, as a student runs it:
// its own checks must pass, the distance must fall during descent, its SVG figures must be
// well-formed, and Algorithm 1 must remove more blocks of the regularised network.
#include <doctest/doctest.h>

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "../check.hpp"
#include "../data/data_test_util.hpp"
#include "../data/tiny_imagenet_writer.hpp"
#include "lacoot/io/atomic_file.hpp"
#include "lacoot/io/json.hpp"
#include "lacoot/io/safetensors.hpp"
#include "lacoot/models/mobilenet_v2.hpp"
#include "lacoot/models/resnet.hpp"
#include "lacoot/models/swin.hpp"
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

// How many times `what` occurs in `text`.
int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The folder holding the example programs; empty when the build has none.
std::string examples_dir() {
  const char* dir = std::getenv("LACOOT_EXAMPLES");
  return dir ? dir : "";
}

// Runs `examples/<name> <args>` through the shell, after `launcher` (empty: alone), and returns
// its exit status and output.
Result run_example(const std::string& name, const std::string& args, const std::string& launcher = "") {
  const fs::path exe = fs::absolute(fs::path(examples_dir()) / name);
  REQUIRE_MESSAGE(fs::exists(exe), exe.string() << " is missing (build it: meson compile -C BUILD examples/" << name
                                                << "; meson test rebuilds only the test programs)");
  TempDir logs("examples_log");
  const fs::path log = logs / "out.log";
  // In a folder of its own, so that an output folder left to its default lands there, not in the tree.
  const int raw = std::system(("cd " + logs.path().string() + " && " + launcher + exe.string() + " " + args + " > " +
                               log.string() + " 2>&1").c_str());
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

// Whether `text` is well-formed XML with a root element named `root`: every tag closed in order
// (or self-closing), quotes balanced inside tags, nothing after the root. Enough to tell a
// truncated or garbled SVG from a good one, without an XML library.
bool well_formed_xml(const std::string& text, const std::string& root) {
  std::vector<std::string> open;
  bool seen_root = false;
  for (std::size_t p = text.find('<'); p != std::string::npos; p = text.find('<', p + 1)) {
    const std::size_t end = text.find('>', p);
    if (end == std::string::npos) return false;
    const std::string tag = text.substr(p + 1, end - p - 1);
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) return false;
    const bool closing = tag[0] == '/', self_closing = tag.back() == '/';
    const std::string name = tag.substr(closing, tag.find_first_of(" /\n", closing) - closing);
    if (closing) {
      if (open.empty() || open.back() != name) return false;
      open.pop_back();
    } else {
      if (open.empty() && seen_root) return false;  // a second root
      if (open.empty() && name != root) return false;
      seen_root = true;
      if (!self_closing) open.push_back(name);
    }
    p = end;
  }
  return seen_root && open.empty();
}

// The numbers after `key` on each line of `text` that contains it, in order.
std::vector<double> numbers_after(const std::string& text, const std::string& key) {
  std::vector<double> out;
  for (std::size_t p = text.find(key); p != std::string::npos; p = text.find(key, p + 1))
    out.push_back(std::stod(text.substr(p + key.size())));
  return out;
}

}  // namespace

TEST_CASE("example 7, ot_regularisation: each step checks itself, the distance falls, the figures are SVG") {
  if (examples_dir().empty()) {
    MESSAGE("examples not built (-Dexamples=false): skipped");
    return;
  }
  CHECK(well_formed_xml("<svg a=\"1\"><g><circle r=\"2\"/></g></svg>\n", "svg"));  // the checker itself
  CHECK_FALSE(well_formed_xml("<svg><g><circle r=\"2\"/></svg>", "svg"));
  CHECK_FALSE(well_formed_xml("<svg><text x=\"1>a</text></svg>", "svg"));

  TempDir dir("examples_ot");
  const fs::path figs = dir / "figs";
  Result r = run_example("ot_regularisation", "--out " + figs.string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  // Step 1-3: every value computed two ways agreed (the program stops on a failed check).
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') > 40);
  int agreed = 0;
  for (std::size_t p = r.output.find("check: "); p != std::string::npos; p = r.output.find("check: ", p + 1)) ++agreed;
  CHECK(agreed == 6);
  CHECK_FALSE(r.says("check failed"));
  const std::vector<double> w2 = numbers_after(r.output, "W_2 = sqrt(mean_i (sort(x)_i - sort(y)_i)^2) = ");
  REQUIRE(w2.size() == 1);
  CHECK(std::abs(w2[0] - std::sqrt(2.0)) < 0.15);  // near the two Gaussians' distance
  // Step 2: the optimised direction is never below the best random one, and in high dimension
  // far above it (the table's "gain" column).
  const std::vector<double> opt = numbers_after(r.output, "      maxSW_2 = ");
  const std::vector<double> best = numbers_after(r.output, "the best random direction gave ");
  REQUIRE(opt.size() == 1);
  REQUIRE(best.size() == 1);
  CHECK(opt[0] >= best[0]);
  const std::vector<double> gain_at_512 = numbers_after(r.output, "\n       512 ");
  REQUIRE(gain_at_512.size() == 1);
  CHECK(gain_at_512[0] < 1.0);  // the best of 50 random directions is far below 2 ...
  // Step 3: the distance falls during descent.
  const std::vector<double> falling = numbers_after(r.output, ": MaxSWD_2(X, Y) = ");
  REQUIRE(falling.size() == 11);
  CHECK(falling.back() < falling.front() / 10);
  for (std::size_t i = 1; i < falling.size(); ++i) CHECK(falling[i] < 1.1 * falling[i - 1]);
  // Step 4: each block's distance is printed, and the regularised network loses fewer points
  // while Algorithm 1 removes more blocks than the unregularised one.
  CHECK(r.says("lambda = 0: validation MaxSWD_2 per block: blocks.0 "));
  CHECK(r.says("lambda = 3: validation MaxSWD_2 per block: blocks.0 "));
  const std::vector<double> removed0 = numbers_after(r.output, "lambda = 0: Algorithm 1 (delta = 1 point) removes ");
  const std::vector<double> removed3 = numbers_after(r.output, "lambda = 3: Algorithm 1 (delta = 1 point) removes ");
  REQUIRE(removed0.size() == 1);
  REQUIRE(removed3.size() == 1);
  CHECK(removed3[0] >= 1);
  CHECK(removed3[0] > removed0[0]);
  const std::vector<double> kept = numbers_after(r.output, "% -> ");
  REQUIRE(kept.size() == 2);
  CHECK(kept[1] > 95);  // the collapsed accuracy of the λ = 3 network
  CHECK(r.says("(collapsed accuracy)"));
  // The figures exist and are SVG.
  for (const char* name : {"clouds.svg", "projected_distance.svg", "optimised_vs_random.svg", "descent_step_0.svg",
                           "descent_step_15.svg", "descent_step_150.svg", "descent_distance.svg", "block_distances.svg",
                           "collapse.svg"}) {
    INFO(name);
    REQUIRE(fs::exists(figs / name));
    const std::string svg = read_file((figs / name).string());
    CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
    CHECK(well_formed_xml(svg, "svg"));
    CHECK(svg.size() < 50000);
  }
  CHECK(read_file((figs / "block_distances.svg").string()).find("<title>lambda = 3 blocks.3: ") != std::string::npos);

  // --help describes the steps and options; a bad command line is status 2.
  r = run_example("ot_regularisation", "--help");
  CHECK(r.status == 0);
  CHECK(r.says("--out DIR"));
  CHECK(r.says("max-sliced"));
  CHECK(run_example("ot_regularisation", "--bogus 1").status == 2);
  CHECK(run_example("ot_regularisation", "--steps 0").status == 2);
}

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

TEST_CASE("the examples under mpirun -np 2: data parallel, rank 0 alone reports and saves") {
  const char* mpirun = std::getenv("LACOOT_MPIRUN");
  if (mpirun == nullptr || *mpirun == 0) {
    MESSAGE("skipped: this build has no MPI (install libopenmpi-dev and openmpi-bin; Meson then says MPI: YES)");
    return;
  }
  // As tests/distributed/test_distributed.cpp launches: as root only when told, one thread per
  // rank, LeakSanitizer off in MPI's processes (Open MPI's plugins leave blocks at exit).
  const std::string launcher = std::string(::geteuid() == 0 ? "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " : "") +
                               "OMP_NUM_THREADS=1 LSAN_OPTIONS=detect_leaks=0 " + mpirun + " -np 2 --oversubscribe ";
  TempDir dir("examples_mpi");
  write_cifar10(dir / "cifar-10-batches-bin", /*per_batch=*/2, /*test=*/2);
  const std::string out = (dir / "w.safetensors").string();
  Result r = run_example("mobilenetv2_cifar10", "--data " + dir.path().string() + " --max-steps 2 --batch-size 4 "
                         "--val-size 2 --out " + out, launcher);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.says("data parallel: 2 processes (mpi)"));
  CHECK(count_of(r.output, "test top-1") == 1);  // rank 1 trains and tests too, silently
  CHECK(count_of(r.output, "wrote ") == 1);
  CHECK_NOTHROW(models::mobilenet_v2_cifar({.num_classes = 10})->load_state_dict(load_safetensors(out).tensors, true));
  r = run_example("mobilenetv2_cifar10", "--data " + dir.path().string() + " --max-steps 2 --batch-size 3 "
                  "--val-size 2 --out " + out, launcher);
  CHECK(r.status != 0);
  CHECK(r.says("--batch-size 3 does not split evenly among 2 processes"));
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

TEST_CASE("example 8, dit_fashion_mnist: the whole run in miniature writes its grids and summary") {
  if (examples_dir().empty()) {
    MESSAGE("examples not built (-Dexamples=false): skipped");
    return;
  }
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    MESSAGE("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  TempDir dir("examples_dit");
  const std::string out = (dir / "run").string();
  Result r = run_example("dit_fashion_mnist", "--max-steps 2 --hidden 16 --depth 3 --heads 2 --batch-size 4 "
                                              "--samples 20 --sample-steps 2 --out " + out);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(r.says("removed from every model: blocks."));
  CHECK(r.says("LaCoOT 2 blocks removed"));
  CHECK(r.says("plain 2 blocks removed"));
  CHECK(r.says("dense 2 blocks removed"));
  for (const char* grid : {"dense", "LaCoOT_fine-tuned", "plain_fine-tuned", "LaCoOT_2_blocks_removed",
                           "plain_2_blocks_removed", "dense_2_blocks_removed"}) {
    const fs::path png = fs::path(out) / (std::string(grid) + ".png");
    CHECK_MESSAGE(fs::exists(png), png.string());
    // The PNG signature, then IHDR's width and height (big-endian) and bit depth 8, grey (0).
    const std::string bytes = read_file(png.string());
    REQUIRE(bytes.size() > 26);
    CHECK(bytes.substr(1, 3) == "PNG");
    auto be32 = [&](std::size_t at) {
      uint32_t v = 0;
      for (std::size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
      return v;
    };
    CHECK(be32(16) == 64);   // 2 samples per class, 32 pixels each
    CHECK(be32(20) == 320);  // a row of 32 pixels per class
    CHECK((bytes[24] == 8 && bytes[25] == 0));
  }
  const Json summary = parse_json(read_file((fs::path(out) / "summary.json").string()));
  const Json::Array& models = summary.find("models")->as_array();
  REQUIRE(models.size() == 6);
  CHECK(models[3].find("model")->as_string() == "LaCoOT 2 blocks removed");
  CHECK(std::isfinite(models[3].find("frechet_distance")->as_double()));
  CHECK(summary.find("removed")->size() == 2);
  for (const char* weights : {"classifier", "dense", "lacoot", "plain"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / (std::string(weights) + ".safetensors")), weights);

  // Again from the saved dense DiT and classifier: every row is the first run's to the last
  // digit (the fine-tunes start from fixed seeds and the loader's first epoch, whatever came
  // before them), and so are the blocks removed.
  const std::string tiny = "--max-steps 2 --hidden 16 --depth 3 --heads 2 --batch-size 4 --samples 20 --sample-steps 2";
  const std::string saved = " --dense " + out + "/dense.safetensors --classifier " + out + "/classifier.safetensors";
  r = run_example("dit_fashion_mnist", tiny + saved + " --out " + (dir / "again").string());
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const Json again = parse_json(read_file((dir / "again" / "summary.json").string()));
  for (std::size_t i = 0; i < models.size(); ++i) {
    const Json& row = again.find("models")->as_array()[i];
    CHECK_MESSAGE(row.find("frechet_distance")->as_double() == models[i].find("frechet_distance")->as_double(),
                  models[i].find("model")->as_string());
    CHECK(row.find("class_top1")->as_double() == models[i].find("class_top1")->as_double());
  }
  CHECK(again.find("removed")->dump() == summary.find("removed")->dump());
  CHECK(again.find("steps")->as_double() == 0);
  r = run_example("dit_fashion_mnist", tiny + " --hidden 32" + saved + " --out " + (dir / "other").string());
  CHECK(r.status == 1);
  CHECK_MESSAGE(r.says("pos_embed"), r.output);  // a DiT of another width: the mismatched keys are named

  // Another --seed from the same dense DiT and judge: other fine-tunes and other samples (the
  // dense row differs only by its sampling noise), and the seed is in the summary.
  r = run_example("dit_fashion_mnist", tiny + saved + " --seed 1 --out " + (dir / "seed1").string());
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const Json seed1 = parse_json(read_file((dir / "seed1" / "summary.json").string()));
  CHECK(seed1.find("seed")->as_double() == 1);
  CHECK(summary.find("seed")->as_double() == 0);
  for (std::size_t i : {0, 1, 2})
    CHECK_MESSAGE(seed1.find("models")->as_array()[i].find("frechet_distance")->as_double() !=
                      models[i].find("frechet_distance")->as_double(),
                  models[i].find("model")->as_string());
  CHECK(run_example("dit_fashion_mnist", "--seed -1").status == 2);
  CHECK(run_example("dit_fashion_mnist", "--remove 3 --depth 3").status == 2);
  CHECK(run_example("dit_fashion_mnist", "--samples 15").status == 2);
  r = run_example("dit_fashion_mnist",
                  "--data " + (dir / "nowhere").string() + " --max-steps 1 --out " + (dir / "unused").string());
  CHECK(r.status == 1);
  CHECK(r.says("nowhere"));
}

TEST_CASE("example 9, swin_t_imagefolder: trains Swin-T with the regulariser, runs Algorithm 1, saves what loads") {
  if (examples_dir().empty()) {
    MESSAGE("examples not built (-Dexamples=false): skipped");
    return;
  }
  TempDir dir("examples_swin");
  write_tiny_imagenet(dir / "tiny", /*classes=*/2, /*per_class=*/3, /*val_per_class=*/1, /*size=*/16);
  const std::string data = " --layout tiny-imagenet --data " + (dir / "tiny").string();
  const std::string out = (dir / "w.safetensors").string();
  Result r = run_example("swin_t_imagefolder", data + " --max-steps 2 --batch-size 2 --val-size 2 --pair mlp "
                                                      "--threads 2 --out " + out);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.says("2 classes: 4 training, 2 validation, 2 test images"));
  CHECK(r.says("removable blocks: features.1.0 features.1.1 features.3.0"));
  CHECK(r.says("R compares each block's input with its MLP branch (the reference's)"));
  CHECK(r.says("epoch 1: lr 0.001, train loss"));  // Swin-T's recipe
  CHECK(r.says("(+ lambda R "));
  CHECK(r.says("removed nothing "));
  CHECK(r.says("removed features.7.1 "));  // the full trajectory: every block in turn
  CHECK(r.says("Algorithm 1 keeps the model with"));
  // What it saved is the collapsed model: its metadata names the blocks removed.
  Safetensors w = load_safetensors(out);
  auto model = models::swin_t({.num_classes = 2});
  const std::string removed = *w.find_metadata("removed_blocks");
  for (std::size_t start = 0; start < removed.size();) {
    const std::size_t comma = std::min(removed.find(',', start), removed.size());
    nn::replace_with_identity(*model, removed.substr(start, comma - start));
    start = comma + 1;
  }
  CHECK_NOTHROW(model->load_state_dict(w.tensors, /*strict=*/true));

  // With ImageNet weights (lacoot's own 1000-class swin_t here): every tensor but the head loads.
  manual_seed(123);
  save_safetensors((dir / "imagenet.safetensors").string(), models::swin_t()->state_dict());
  r = run_example("swin_t_imagefolder", data + " --weights " + (dir / "imagenet.safetensors").string() +
                                            " --max-steps 1 --batch-size 2 --val-size 2 --delta 0 --out " + out);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.says("loaded 183 tensors from"));
  CHECK(r.says("R compares each block's input with its output"));

  // Bad input: no such folder; weights of another network; options.
  r = run_example("swin_t_imagefolder", "--layout tiny-imagenet --data " + (dir / "nowhere").string());
  CHECK(r.status == 1);
  CHECK(r.says((dir / "nowhere").string()));
  save_safetensors((dir / "other.safetensors").string(), {{"conv1.weight", zeros({64, 3, 7, 7})}});
  r = run_example("swin_t_imagefolder", data + " --val-size 2 --weights " + (dir / "other.safetensors").string());
  CHECK(r.status == 1);
  CHECK(r.says("is not torchvision's swin_t"));
  CHECK(run_example("swin_t_imagefolder", data + " --pair norm1").status == 2);
  CHECK(run_example("swin_t_imagefolder", data + " --layout cifar10").status == 2);
  CHECK(run_example("swin_t_imagefolder", "--max-steps 1").status == 2);  // --data is required
}

TEST_CASE("every example prints its usage for --help and -h, whatever else is on the line") {
  if (examples_dir().empty()) {
    MESSAGE("examples not built (-Dexamples=false): skipped");
    return;
  }
  for (const std::string name : {"resnet18_fashion_mnist", "resnet18_cifar10", "mobilenetv2_cifar10", "vgg16_cifar10",
                                 "resnet18_imagefolder", "ot_regularisation", "dit_fashion_mnist",
                                 "swin_t_imagefolder"}) {
    for (const std::string flag : {"--help", "-h", "--bogus 1 --help"}) {
      Result r = run_example(name, flag);
      CHECK_MESSAGE(r.status == 0, name, " ", flag);
      CHECK_MESSAGE(r.says("usage: " + name), name, " ", flag, ": ", r.output);
      CHECK_MESSAGE(r.says("--threads"), name, " ", flag);
    }
  }
}
