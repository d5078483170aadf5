// lacoot/nn/block.hpp — the removable blocks of a model: finding them and removing them.
//
// Holds: blocks(model), the marked modules in forward order with their dotted paths, and
// replace_with_identity(model, path), the module-level collapse of one block.
// Needs: nn/module.hpp, nn/container.hpp.
// Leaves out: the method (the regulariser and Algorithm 1 live in lacoot/method, and see only
// these marks) and the graph-level collapse (graph/).
//
// A model marks a module with mark_block() when LaCoOT may replace it by the identity: its
// input and output have the same shape. ResNet marks the second BasicBlock of each stage,
// MobileNetV2 its stride-1 depthwise units (METHOD.md §4); a user's model marks its own. The
// method holds no per-model list (STYLE.md, "The method knows no model").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "container.hpp"
#include "module.hpp"

namespace lacoot::nn {

// Every marked module under `model` (pre-order, i.e. forward order for the models here), by path.
inline std::vector<std::pair<std::string, Module*>> blocks(Module& model) {
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [path, m] : model.named_modules())
    if (m->is_block()) out.emplace_back(path, m);
  return out;
}

// Replaces the block at `path` ("layer3.1") by an Identity: its parameters and buffers leave the
// state_dict, and whatever consumed its output now receives its input.
inline void replace_with_identity(Module& model, const std::string& path) {
  LACOOT_CHECK(!path.empty(), "replace_with_identity: the model itself cannot be removed");
  ModulePtr target = model.submodule(path);
  LACOOT_CHECK(target->is_block(), "replace_with_identity: \"", path, "\" (", target->type_name(),
               ") is not a removable block; the removable ones are marked with mark_block()");
  const std::size_t dot = path.rfind('.');
  Module& parent = dot == std::string::npos ? model : *model.submodule(path.substr(0, dot));
  parent.replace_child(dot == std::string::npos ? path : path.substr(dot + 1), std::make_shared<Identity>());
}

}  // namespace lacoot::nn
