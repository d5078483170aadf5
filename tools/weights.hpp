// tools/weights.hpp — a model of the zoo with the weights of a safetensors file, for
// `lacoot run` and `lacoot collapse`.
//
// Holds: check_classifier(model, command), options_from_weights(weights, model, args) and
// load_model(model, path, args).
// Needs: io/safetensors.hpp, models/zoo.hpp, nn/block.hpp, train/args.hpp.
// Leaves out: checkpoints (train/checkpoint.hpp reads those: they hold optimiser state too).
#pragma once

#include <algorithm>
#include <string>

#include "lacoot/io/safetensors.hpp"
#include "lacoot/models/zoo.hpp"
#include "lacoot/nn/block.hpp"
#include "lacoot/train/args.hpp"

namespace lacoot::detail {

// The model's sizes as the weights show them: classes from the last 2-D weight, input
// channels from the first 4-D one, ResNet width from conv1; a command-line option wins.
inline models::ModelOptions options_from_weights(const Safetensors& w, const std::string& model, const train::Args& a) {
  models::ModelOptions o;
  const Tensor* first_conv = nullptr;
  const Tensor* last_linear = nullptr;
  for (const auto& [name, t] : w.tensors) {
    if (t.dim() == 4 && !first_conv) first_conv = &t;
    if (t.dim() == 2 && name.ends_with(".weight")) last_linear = &t;
  }
  LACOOT_CHECK(first_conv && last_linear, "the weights hold no 4-D convolution or no 2-D linear weight: they are "
               "not those of a ", model);
  o.num_classes = a.integer("num-classes", last_linear->size(0));
  o.in_channels = a.integer("in-channels", first_conv->size(1));
  if (model.rfind("resnet", 0) == 0) o.width = a.integer("width", first_conv->size(0));
  return o;
}

// train, run and collapse work on classifiers: a DiT (a noise predictor called with timesteps
// and labels) is an error naming what does take it.
inline void check_classifier(const std::string& model_name, const std::string& command) {
  LACOOT_CHECK(!models::is_diffusion_model(model_name), "lacoot ", command, " takes classifiers; ", model_name,
               " is a diffusion transformer, which predicts noise from (x, t, y) (hint: lacoot profile --model ",
               model_name, " --input-shape 4,32,32 counts its MACs; examples/dit_fashion_mnist trains a DiT)");
}

// The model named `model_name` with the weights of `path`: sizes read from the weights, and the
// blocks a collapse removed (metadata "removed_blocks", written by lacoot collapse) removed again;
// on the device of --device (cpu, cuda, cuda:N; default cpu; the CPU, said once, without a GPU).
inline nn::ModulePtr load_model(const std::string& model_name, const std::string& path, const train::Args& a) {
  const Safetensors weights = load_safetensors(path);
  nn::ModulePtr model = models::make_model(model_name, options_from_weights(weights, model_name, a));
  if (const std::string* removed = weights.find_metadata("removed_blocks"))
    for (std::size_t start = 0; start < removed->size();) {
      const std::size_t comma = std::min(removed->find(',', start), removed->size());
      nn::replace_with_identity(*model, removed->substr(start, comma - start));
      start = comma + 1;
    }
  model->load_state_dict(weights.tensors);
  model->to(train::device_option(a));
  return model;
}

}  // namespace lacoot::detail
