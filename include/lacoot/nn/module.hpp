// lacoot/nn/module.hpp — Module: a named tree of parameters, buffers and child modules.
//
// Holds: Module (registration, recursive named_parameters / named_buffers / named_modules with
// PyTorch's dotted names, train / eval, to(dtype) / to(device), zero_grad, state_dict /
// load_state_dict, forward hooks, the removable-block mark), ModulePtr, StateDict, LoadResult and
// device_of (where a module's tensors are).
// Needs: core/ (Tensor), autograd/grad_mode.hpp, autograd/scope.hpp.
// Leaves out: layers (nn/linear.hpp, nn/conv.hpp, ...) and serialisation to disk (io/ writes a
// StateDict).
//
// The naming contract (DESIGN.md): a parameter registered as "weight" in a child registered as
// "conv1" of a child "0" of "layer1" is "layer1.0.conv1.weight", exactly as torch.nn.Module
// forms it, so torchvision's state_dict keys load unchanged. state_dict() lists, like PyTorch's
// _save_to_state_dict, each module's own parameters, then its own buffers, then its children in
// registration order.
//
// One class per layer, held by std::shared_ptr (STYLE.md, "A small public API"):
//   auto conv = register_module("conv1", std::make_shared<Conv2d>(3, 64, 3));
// returns the handle; `conv->weight` and the registered parameter are one tensor (handles share
// their TensorImpl), and load_state_dict copies values into it in place, so both stay in sync.
#pragma once

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../autograd/grad_mode.hpp"
#include "../autograd/scope.hpp"
#include "../core/tensor.hpp"

namespace lacoot::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;
// (name, tensor) pairs in PyTorch's order: what state_dict() returns and io/ saves.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// What load_state_dict(strict = false) did not match, as PyTorch's _IncompatibleKeys.
struct LoadResult {
  std::vector<std::string> missing_keys;     // in the model, not in the state dict
  std::vector<std::string> unexpected_keys;  // in the state dict, not in the model
};

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The computation; a subclass defines it. Call the module (operator()), not forward, so
  // that forward hooks run.
  virtual Tensor forward(const Tensor& input) = 0;

  // Runs forward, then the hooks. The ops forward records carry this module as their scope
  // (autograd/scope.hpp; graph/trace.hpp names them "layer1.0.conv1"). Hooks run after the
  // scope closes, in the caller's scope: they observe the module, they are not part of it.
  Tensor operator()(const Tensor& input) {
    Tensor output;
    {
      autograd::ScopeGuard scope(this);
      output = forward(input);
    }
    for (auto& [id, hook] : hooks_) hook(*this, input, output);
    return output;
  }

  // The call graph::trace makes on its zero batch: the module itself. A model whose call needs
  // more than its input supplies the rest here (DiT: timestep 0 and the null class).
  virtual Tensor traced_call(const Tensor& input) { return (*this)(input); }

  // The class name, as PyTorch prints it ("Conv2d", "BasicBlock").
  const std::string& type_name() const { return type_name_; }

  // ---- registration: each returns the handle it stores ----
  Tensor register_parameter(const std::string& name, Tensor value, bool requires_grad = true) {
    check_new_name(name);
    if (requires_grad) value.requires_grad_();
    params_.emplace_back(name, value);
    return value;
  }
  Tensor register_buffer(const std::string& name, Tensor value) {
    check_new_name(name);
    buffers_.emplace_back(name, value);
    return value;
  }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_new_name(name);
    LACOOT_CHECK(module != nullptr, type_name_, ".register_module: module \"", name, "\" is null");
    children_.emplace_back(name, module);
    return module;
  }

  // ---- the tree ----
  // Own parameters first, then the children's, with dotted names (PyTorch's named_parameters).
  StateDict named_parameters(bool recurse = true) const {
    StateDict out;
    collect(out, "", recurse, /*params=*/true, /*buffers=*/false);
    return out;
  }
  StateDict named_buffers(bool recurse = true) const {
    StateDict out;
    collect(out, "", recurse, false, true);
    return out;
  }
  std::vector<Tensor> parameters(bool recurse = true) const {
    std::vector<Tensor> out;
    for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
    return out;
  }
  const std::vector<std::pair<std::string, ModulePtr>>& named_children() const { return children_; }
  // This module (named prefix, "" at the root) and every descendant, depth first, pre-order.
  std::vector<std::pair<std::string, Module*>> named_modules(const std::string& prefix = "") {
    std::vector<std::pair<std::string, Module*>> out{{prefix, this}};
    for (auto& [name, child] : children_) {
      auto sub = child->named_modules(join(prefix, name));
      out.insert(out.end(), sub.begin(), sub.end());
    }
    return out;
  }

  // The child registered as `name`; a lacoot::Error listing the children if there is none.
  ModulePtr child(const std::string& name) const {
    for (auto& [n, c] : children_)
      if (n == name) return c;
    throw Error(detail::concat(type_name_, " has no child \"", name, "\" (children: ", child_names(), ")"));
  }
  // A descendant by dotted path ("layer1.1", "features.3.conv.1"), as get_submodule.
  ModulePtr submodule(const std::string& path) const {
    std::size_t dot = path.find('.');
    ModulePtr c = child(path.substr(0, dot));
    return dot == std::string::npos ? c : c->submodule(path.substr(dot + 1));
  }
  // Puts `module` where child `name` was, keeping its position (and so the order of the
  // state_dict). The collapse transform uses it to put an Identity in a block's place.
  void replace_child(const std::string& name, ModulePtr module) {
    for (auto& [n, c] : children_)
      if (n == name) {
        c = std::move(module);
        return;
      }
    throw Error(detail::concat(type_name_, ".replace_child: no child \"", name, "\" (children: ",
                               child_names(), ")"));
  }

  // ---- modes ----
  // Training mode (batch statistics in BatchNorm, dropout on) for this module and its children.
  virtual void train(bool on = true) {
    training_ = on;
    for (auto& [name, c] : children_) c->train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Converts every floating parameter and buffer to `dtype` in place (float64 for gradient
  // checks); handles held elsewhere (conv->weight, an optimiser's list) see the change, since
  // they share the TensorImpl. Integer buffers (num_batches_tracked) keep their dtype.
  void to(DType dtype) {
    LACOOT_CHECK(is_floating(dtype), type_name_, ".to: expected a floating dtype, got ", dtype_name(dtype));
    for (auto& [name, t] : state_dict()) {
      if (!is_floating(t.dtype()) || t.dtype() == dtype) continue;
      Tensor converted = t.to(dtype);
      TensorImpl& impl = t.impl();
      impl.storage = converted.impl().storage;
      impl.offset = 0;
      impl.dtype = dtype;
      impl.grad.reset();
    }
  }

  // Moves every parameter and buffer (and a parameter's gradient) to `device`, in place, as
  // to(dtype) does: handles held elsewhere see the move. Make the optimiser after the move, as
  // in PyTorch (its state lives where the parameters were).
  void to(Device device) {
    for (auto& [name, t] : state_dict()) {
      if (t.device() == device) continue;
      TensorImpl& impl = t.impl();
      Tensor moved = t.to(device);
      impl.storage = moved.impl().storage;
      impl.offset = 0;
      if (impl.grad) impl.grad = Tensor(impl.grad).to(device).impl_ptr();
    }
  }

  // Drops every parameter's gradient (set_to_none, PyTorch 2's default).
  void zero_grad() {
    for (auto& [name, p] : named_parameters()) p.set_grad(Tensor());
  }

  // ---- state ----
  // Every parameter and buffer, by dotted name. The tensors are the module's own (not copies):
  // io/ writes them; clone them to keep a snapshot.
  StateDict state_dict() const {
    StateDict out;
    collect(out, "", true, true, true);
    return out;
  }

  // Copies values from `state` into the module's tensors, in place. A key of the module
  // missing from `state`, or a key of `state` that the module lacks, is an error when `strict`
  // (the message lists them all) and is returned otherwise. A shape mismatch is always an
  // error (listing every mismatched key). Values convert to the tensor's dtype.
  LoadResult load_state_dict(const StateDict& state, bool strict = true) {
    StateDict mine = state_dict();
    LoadResult result;
    std::vector<std::string> mismatched;
    std::vector<bool> used(state.size(), false);
    std::vector<std::pair<Tensor, Tensor>> copies;  // (destination, source)
    for (auto& [name, dst] : mine) {
      auto it = std::find_if(state.begin(), state.end(), [&key = name](const auto& kv) { return kv.first == key; });
      if (it == state.end()) {
        result.missing_keys.push_back(name);
        continue;
      }
      used[static_cast<std::size_t>(it - state.begin())] = true;
      if (it->second.shape() != dst.shape()) {
        mismatched.push_back(name + ": the checkpoint has " + shape_str(it->second.shape()) +
                             ", the model " + shape_str(dst.shape()));
        continue;
      }
      copies.emplace_back(dst, it->second);
    }
    for (std::size_t i = 0; i < state.size(); ++i)
      if (!used[i]) result.unexpected_keys.push_back(state[i].first);
    LACOOT_CHECK(mismatched.empty(), "load_state_dict (", type_name_, "): size mismatch for ",
                 mismatched.size(), " key(s):\n  ", join_lines(mismatched),
                 "\n(hint: the weights are for another architecture, width or number of classes)");
    LACOOT_CHECK(!strict || (result.missing_keys.empty() && result.unexpected_keys.empty()),
                 "load_state_dict (", type_name_, "): the keys do not match.\n  missing keys (",
                 result.missing_keys.size(), "): ", join_list(result.missing_keys),
                 "\n  unexpected keys (", result.unexpected_keys.size(), "): ",
                 join_list(result.unexpected_keys),
                 "\n(hint: pass strict = false to load the keys that match, e.g. into a collapsed model)");
    // Only after every check has passed, so a failed load leaves the module as it was.
    NoGradGuard no_grad;
    for (auto& [dst, src] : copies) {
      Tensor value = src.dtype() == dst.dtype() ? src : src.to(dst.dtype());
      detail::copy_bytes(dst.raw_data(), dst.device(), value.raw_data(), value.device(), dst.nbytes());
    }
    return result;
  }

  // ---- forward hooks: hook(module, input, output) after every call of the module ----
  using ForwardHook = std::function<void(Module&, const Tensor& input, const Tensor& output)>;
  int register_forward_hook(ForwardHook hook) {
    hooks_.emplace_back(++last_hook_id_, std::move(hook));
    return last_hook_id_;
  }
  void remove_forward_hook(int id) {
    std::erase_if(hooks_, [&](const auto& h) { return h.first == id; });
  }

  // ---- the removable-block mark (nn/block.hpp) ----
  // A model marks the modules that LaCoOT may replace by the identity: their input and output
  // have the same shape, and the regulariser compares them (METHOD.md §2). `compared_output`,
  // when given, is the dotted path of a descendant whose output the regulariser compares with
  // the block's input instead of the block's own output (Swin's "mlp" branch, as the LaCoOT
  // reference hooks it, METHOD.md §4); the block itself is still what collapse removes.
  bool is_block() const { return block_; }
  void mark_block(bool on = true, std::string compared_output = "") {
    block_ = on;
    compared_output_ = on ? std::move(compared_output) : std::string();
  }
  // "" when the pair is the block's own input and output.
  const std::string& compared_output() const { return compared_output_; }

 private:
  static std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
  }
  static std::string join_list(const std::vector<std::string>& v) { return detail::join(v, ", ", "none"); }
  static std::string join_lines(const std::vector<std::string>& v) { return detail::join(v, "\n  "); }
  std::string child_names() const {
    std::vector<std::string> names;
    for (auto& [n, c] : children_) names.push_back(n);
    return join_list(names);
  }
  void check_new_name(const std::string& name) const {
    LACOOT_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_,
                 ": cannot register \"", name, "\": a name must be non-empty and contain no '.'");
    auto taken = [&](const auto& list) {
      return std::any_of(list.begin(), list.end(), [&](const auto& kv) { return kv.first == name; });
    };
    LACOOT_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_name_,
                 ": the name \"", name, "\" is already registered");
  }
  void collect(StateDict& out, const std::string& prefix, bool recurse, bool params, bool buffers) const {
    if (params)
      for (auto& [n, t] : params_) out.emplace_back(join(prefix, n), t);
    if (buffers)
      for (auto& [n, t] : buffers_) out.emplace_back(join(prefix, n), t);
    if (!recurse) return;
    for (auto& [n, c] : children_) c->collect(out, join(prefix, n), true, params, buffers);
  }

  std::string type_name_;
  StateDict params_, buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
  std::vector<std::pair<int, ForwardHook>> hooks_;
  int last_hook_id_ = 0;
  bool training_ = true;
  bool block_ = false;
  std::string compared_output_;
};

// The device of the module's first parameter (or, without parameters, its first buffer), as
// PyTorch's next(model.parameters()).device: where the training loop sends the batches. The CPU
// for a module holding no tensors.
inline Device device_of(const Module& m) {
  for (const auto& [name, p] : m.named_parameters()) return p.device();
  for (const auto& [name, b] : m.named_buffers()) return b.device();
  return kCPU;
}

}  // namespace lacoot::nn
