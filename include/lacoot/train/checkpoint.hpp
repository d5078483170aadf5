// lacoot/train/checkpoint.hpp — everything a run needs to continue exactly, in one file.
//
// Holds: Checkpoint (model state, optimiser and scheduler state, where the run is, the default
// generator's state), save_checkpoint, load_checkpoint and checkpoint_from (a parsed file).
// Needs: nn/module.hpp, optim/optimizer.hpp, io/safetensors.hpp.
// Leaves out: the data loader's state — none is needed: the order and augmentation of pass e
// are pure functions of (seed, e) (data_loaders/loader.hpp), so (epoch, step_in_epoch) say where
// to continue.
//
// The file is a safetensors file, so any safetensors reader can look inside: tensors under
// "model.<key>", "optimizer.<key>", "scheduler.<key>"; scalars (step counts, learning rates,
// the RNG state) in the metadata as exact decimal strings (%.17g round-trips a double;
// integers are written as integers). It is written to a temporary file, flushed and renamed
// over the previous checkpoint (io/atomic_file.hpp): a crash leaves the old one intact.
#pragma once

#include <charconv>
#include <cstdio>
#include <string>
#include <system_error>
#include <utility>

#include "../core/rng.hpp"
#include "../io/safetensors.hpp"
#include "../nn/module.hpp"
#include "../optim/optimizer.hpp"

namespace lacoot::train {

struct Checkpoint {
  nn::StateDict model;
  optim::StateDict optimizer, scheduler;
  int64_t epoch = 0;          // the pass in progress (0-based)
  int64_t step_in_epoch = 0;  // its steps already taken
  int64_t global_step = 0;
  uint64_t rng_seed = 0, rng_offset = 0;  // default_generator() (dropout masks, initialisation)
  std::vector<std::pair<std::string, std::string>> info;  // free text: model, dataset, ...
};

}  // namespace lacoot::train

namespace lacoot::detail {
inline std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
inline void add_prefixed(std::vector<std::pair<std::string, Tensor>>& out, std::vector<std::pair<std::string, std::string>>& meta,
                         const std::string& prefix, const optim::StateDict& sd) {
  for (const auto& [k, t] : sd.tensors) out.emplace_back(prefix + k, t);
  for (const auto& [k, v] : sd.scalars) meta.emplace_back(prefix + k, exact(v));
}
// `v`, all of it one number of type T (an integer type, or double); anything else is an Error
// naming the file, the field and what it holds.
template <typename T>
T parse_meta_number(const std::string& v, const std::string& key, const std::string& path, const char* expected) {
  T out{};
  const char* end = v.data() + v.size();
  const auto [at, ec] = std::from_chars(v.data(), end, out);
  LACOOT_CHECK(ec == std::errc() && at == end && !v.empty(), path, ": checkpoint field \"", key, "\" is \"", v,
               "\", expected ", expected);
  return out;
}

// The metadata field `key` as such a number.
template <typename T>
T meta_number(const Safetensors& f, const std::string& key, const std::string& path, const char* expected) {
  const std::string* v = f.find_metadata(key);
  LACOOT_CHECK(v != nullptr, path, ": not a lacoot checkpoint (its metadata has no \"", key, "\")");
  return parse_meta_number<T>(*v, key, path, expected);
}
}  // namespace lacoot::detail

namespace lacoot::train {

inline void save_checkpoint(const std::string& path, const Checkpoint& c) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::pair<std::string, std::string>> meta{
      {"format", "lacoot-checkpoint-1"},
      {"epoch", std::to_string(c.epoch)},
      {"step_in_epoch", std::to_string(c.step_in_epoch)},
      {"global_step", std::to_string(c.global_step)},
      {"rng_seed", std::to_string(c.rng_seed)},
      {"rng_offset", std::to_string(c.rng_offset)}};
  for (const auto& [k, t] : c.model) tensors.emplace_back("model." + k, t);
  detail::add_prefixed(tensors, meta, "optimizer.", c.optimizer);
  detail::add_prefixed(tensors, meta, "scheduler.", c.scheduler);
  for (const auto& kv : c.info) meta.emplace_back("info." + kv.first, kv.second);
  save_safetensors(path, tensors, meta);
}

// The checkpoint held by `f` (a parsed safetensors file); `path` names it in errors.
inline Checkpoint checkpoint_from(const Safetensors& f, const std::string& path) {
  const std::string* format = f.find_metadata("format");
  LACOOT_CHECK(format && *format == "lacoot-checkpoint-1", path, ": not a lacoot checkpoint (metadata \"format\" is ",
               format ? "\"" + *format + "\"" : std::string("missing"), ", expected \"lacoot-checkpoint-1\")");
  Checkpoint c;
  const char* count = "a count (a non-negative integer)";
  c.epoch = detail::meta_number<int64_t>(f, "epoch", path, count);
  c.step_in_epoch = detail::meta_number<int64_t>(f, "step_in_epoch", path, count);
  c.global_step = detail::meta_number<int64_t>(f, "global_step", path, count);
  for (const auto& [key, v] : {std::pair{"epoch", c.epoch}, {"step_in_epoch", c.step_in_epoch}, {"global_step", c.global_step}})
    LACOOT_CHECK(v >= 0, path, ": checkpoint field \"", key, "\" is ", v, ", expected ", count);
  c.rng_seed = detail::meta_number<uint64_t>(f, "rng_seed", path, "an unsigned 64-bit integer");
  c.rng_offset = detail::meta_number<uint64_t>(f, "rng_offset", path, "an unsigned 64-bit integer");
  auto starts = [](const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; };
  for (const auto& [k, t] : f.tensors) {
    if (starts(k, "model.")) c.model.emplace_back(k.substr(6), t);
    else if (starts(k, "optimizer.")) c.optimizer.add(k.substr(10), t);
    else if (starts(k, "scheduler.")) c.scheduler.add(k.substr(10), t);
  }
  const char* real = "a number (%.17g)";
  for (const auto& [k, v] : f.metadata) {
    if (starts(k, "optimizer.")) c.optimizer.add(k.substr(10), detail::parse_meta_number<double>(v, k, path, real));
    else if (starts(k, "scheduler.")) c.scheduler.add(k.substr(10), detail::parse_meta_number<double>(v, k, path, real));
    else if (starts(k, "info.")) c.info.emplace_back(k.substr(5), v);
  }
  return c;
}

inline Checkpoint load_checkpoint(const std::string& path) { return checkpoint_from(load_safetensors(path), path); }

// The state of default_generator(), and back.
inline void capture_rng(Checkpoint& c) {
  c.rng_seed = default_generator().seed();
  c.rng_offset = default_generator().offset();
}
inline void restore_rng(const Checkpoint& c) { default_generator().set_state(c.rng_seed, c.rng_offset); }

}  // namespace lacoot::train
