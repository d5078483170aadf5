// lacoot/nn/block.hpp — the removable blocks of a model: finding them and removing them.
//
// Holds: blocks(model), the marked modules in forward order with their dotted paths,
// BlockPairHooks, which hands over the pair of tensors the method compares for each block at
// every forward pass, and replace_with_identity(model, path), the module-level collapse of one
// block.
// Needs: nn/module.hpp, nn/container.hpp.
// Leaves out: the method (the regulariser and Algorithm 1 live in lacoot/method, and see only
// these marks) and the graph-level collapse (graph/).
//
// A model marks a module with mark_block() when LaCoOT may replace it by the identity: its
// input and output have the same shape. ResNet marks the second BasicBlock of each stage,
// MobileNetV2 its stride-1 depthwise units, Swin-T its 12 transformer blocks (METHOD.md §4); a
// user's model marks its own. The method holds no per-model list (STYLE.md, "The method knows
// no model"). The pair compared is the block's input and output, unless the mark names a
// descendant whose output stands in for the block's (mark_block(true, "mlp"): the LaCoOT
// reference compares a Swin block's input with its MLP branch's output).
#pragma once

#include <functional>
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

// Watches the pairs the method compares: after each forward of marked block k (k indexes
// blocks(model)) it calls on_pair(k, x, y) with x the block's input and y its output, or, for a
// block marked with a compared output, the output that descendant gave in the same call. The
// hooks leave the modules when this object dies; it holds the modules it watches, so a block
// replaced in the meantime (Algorithm 1 removes blocks) is still there to take its hook off.
class BlockPairHooks {
 public:
  using OnPair = std::function<void(std::size_t k, const Tensor& x, const Tensor& y)>;
  BlockPairHooks(Module& model, OnPair on_pair) : on_pair_(std::move(on_pair)) {
    const auto marked = blocks(model);
    stand_in_.resize(marked.size());
    for (std::size_t k = 0; k < marked.size(); ++k) {
      const std::string& path = marked[k].first;
      paths_.push_back(path);
      ModulePtr block = path.empty() ? nullptr : model.submodule(path);
      LACOOT_CHECK(block, "BlockPairHooks: the model itself (", model.type_name(), ") is marked as a block; "
                   "expected marks on its submodules, whose input and output the method compares");
      const std::string& sub = block->compared_output();
      if (sub.empty()) {
        watch(block, [this, k](Module&, const Tensor& in, const Tensor& out) { on_pair_(k, in, out); });
        continue;
      }
      // The descendant runs inside the block's forward, so its output is there when the
      // block's own hook runs, after the block.
      watch(block->submodule(sub), [this, k](Module&, const Tensor&, const Tensor& out) { stand_in_[k] = out; });
      watch(block, [this, k, sub](Module&, const Tensor& in, const Tensor&) {
        LACOOT_CHECK(stand_in_[k].defined(), "BlockPairHooks: block ", paths_[k], " ran without running \"", sub,
                     "\", the descendant whose output its mark compares (hint: call it as (*m)(x) in forward)");
        on_pair_(k, in, stand_in_[k]);
        stand_in_[k] = Tensor();
      });
    }
  }
  ~BlockPairHooks() {
    for (auto& [m, id] : hooks_) m->remove_forward_hook(id);
  }
  BlockPairHooks(const BlockPairHooks&) = delete;
  BlockPairHooks& operator=(const BlockPairHooks&) = delete;

  // The blocks' paths, in the order of k.
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  void watch(ModulePtr m, Module::ForwardHook hook) {
    const int id = m->register_forward_hook(std::move(hook));
    hooks_.emplace_back(std::move(m), id);
  }

  OnPair on_pair_;
  std::vector<std::string> paths_;
  std::vector<Tensor> stand_in_;  // a compared descendant's output, until its block's hook
  std::vector<std::pair<ModulePtr, int>> hooks_;
};

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
