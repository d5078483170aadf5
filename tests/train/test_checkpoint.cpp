// Checkpoints (train/checkpoint.hpp): every field survives the file exactly, and a file that is
// not a whole lacoot checkpoint is an Error naming the file, the field and what was expected —
// never another exception (a number that does not parse used to escape as std::invalid_argument,
// and an RNG seed of 2^63 or more could not be read back).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "../io/io_test_util.hpp"
#include "lacoot/ops/shape.hpp"
#include "lacoot/train/checkpoint.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

train::Checkpoint sample_checkpoint() {
  train::Checkpoint c;
  c.model = {{"fc.weight", reshape(arange(6), {2, 3})}, {"fc.bias", zeros({2})}};
  c.optimizer.add("momentum_buffer.fc.weight", full({2, 3}, 0.25));
  c.optimizer.add("lr", 0.1);
  c.optimizer.add("weight_decay", 5e-4);
  c.scheduler.add("last_epoch", 12.0);
  c.epoch = 3;
  c.step_in_epoch = 17;
  c.global_step = 1190;
  c.rng_seed = UINT64_MAX;  // seeds use all 64 bits
  c.rng_offset = (uint64_t{1} << 63) + 5;
  c.info = {{"model", "resnet18-cifar"}, {"dataset", "fashion-mnist"}};
  return c;
}

// The checkpoint's file with metadata field `key` set to `value` (or removed when empty).
std::string with_field(const ScratchDir& dir, const std::string& key, const std::string& value) {
  const std::string path = dir.file("c.ckpt");
  train::save_checkpoint(path, sample_checkpoint());
  Safetensors f = load_safetensors(path);
  std::erase_if(f.metadata, [&](const auto& kv) { return kv.first == key; });
  if (!value.empty()) f.metadata.emplace_back(key, value);
  const std::string edited = dir.file("edited.ckpt");
  save_safetensors(edited, f.tensors, f.metadata);
  return edited;
}

}  // namespace

TEST_CASE("checkpoint: every field back exactly, the RNG state's full 64 bits included") {
  ScratchDir dir;
  const train::Checkpoint c = sample_checkpoint();
  train::save_checkpoint(dir.file("c.ckpt"), c);
  const train::Checkpoint back = train::load_checkpoint(dir.file("c.ckpt"));
  CHECK(back.epoch == 3);
  CHECK(back.step_in_epoch == 17);
  CHECK(back.global_step == 1190);
  CHECK(back.rng_seed == UINT64_MAX);
  CHECK(back.rng_offset == (uint64_t{1} << 63) + 5);
  REQUIRE(back.model.size() == 2);  // in the file's order (safetensors sorts its entries)
  const auto weight = std::find_if(back.model.begin(), back.model.end(), [](auto& kv) { return kv.first == "fc.weight"; });
  REQUIRE(weight != back.model.end());
  check_exact(weight->second, {0, 1, 2, 3, 4, 5});
  REQUIRE(back.optimizer.find_scalar("lr"));
  CHECK(*back.optimizer.find_scalar("lr") == 0.1);  // %.17g: the double itself
  CHECK(*back.optimizer.find_scalar("weight_decay") == 5e-4);
  CHECK(*back.scheduler.find_scalar("last_epoch") == 12.0);
  REQUIRE(back.optimizer.find_tensor("momentum_buffer.fc.weight"));
  check_exact(*back.optimizer.find_tensor("momentum_buffer.fc.weight"), {0.25, 0.25, 0.25, 0.25, 0.25, 0.25});
  auto sorted = [](auto v) { return std::sort(v.begin(), v.end()), v; };  // the header's key order
  CHECK(sorted(back.info) == sorted(c.info));
}

TEST_CASE("checkpoint: a file that is not one, and fields that do not hold what they should") {
  ScratchDir dir;
  save_safetensors(dir.file("weights.safetensors"), {{"w", zeros({2})}});
  check_error([&] { train::load_checkpoint(dir.file("weights.safetensors")); },
              {"weights.safetensors", "not a lacoot checkpoint", "\"format\" is missing"});
  check_error([&] { train::load_checkpoint(with_field(dir, "format", "lacoot-checkpoint-9")); },
              {"edited.ckpt", "\"lacoot-checkpoint-9\"", "expected \"lacoot-checkpoint-1\""});
  check_error([&] { train::load_checkpoint(with_field(dir, "global_step", "")); },
              {"edited.ckpt", "no \"global_step\""});
  check_error([&] { train::load_checkpoint(with_field(dir, "epoch", "3x")); },
              {"edited.ckpt", "field \"epoch\" is \"3x\"", "expected a count"});
  check_error([&] { train::load_checkpoint(with_field(dir, "step_in_epoch", "-4")); },
              {"field \"step_in_epoch\" is -4", "expected a count"});
  check_error([&] { train::load_checkpoint(with_field(dir, "rng_seed", "-1")); },
              {"field \"rng_seed\" is \"-1\"", "unsigned 64-bit"});
  check_error([&] { train::load_checkpoint(with_field(dir, "rng_offset", "18446744073709551616")); },
              {"field \"rng_offset\"", "unsigned 64-bit"});  // 2^64
  check_error([&] { train::load_checkpoint(with_field(dir, "optimizer.lr", "fast")); },
              {"field \"optimizer.lr\" is \"fast\"", "expected a number"});
  check_error([&] { train::load_checkpoint(with_field(dir, "scheduler.last_epoch", "1e999")); },
              {"field \"scheduler.last_epoch\" is \"1e999\""});  // out of double's range
  check_error([&] { train::load_checkpoint(dir.file("nowhere.ckpt")); }, {"nowhere.ckpt"});
}
