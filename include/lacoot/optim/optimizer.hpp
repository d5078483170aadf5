// lacoot/optim/optimizer.hpp — what every optimiser shares: parameter groups, per-parameter
// state, zero_grad, and a flat state dict for checkpoints.
//
// Holds: optim::StateDict (named tensors plus named scalars), optim::ParamGroup<Options> (some
// parameters with their own hyper-parameters, as an entry of PyTorch's `param_groups`),
// optim::Optimizer (what schedulers and training loops see: step, zero_grad, each group's lr,
// state_dict / load_state_dict) and detail::OptimizerBase<Options, State>, on which SGD and
// Adam are built: it checks the parameters, walks those that have a gradient, and saves and
// restores hyper-parameters and per-parameter state under PyTorch-like keys.
// Needs: core/ only, not nn/. Parameters are plain Tensor handles that share their TensorImpl
// with the model, so an update writes through p.data<T>() and every holder of the handle sees
// it (the handle is never rebound). Updates call no autograd op, so they record nothing and
// need no NoGradGuard.
// Leaves out: step(closure) (LBFGS), add_param_group after construction, sparse gradients,
// GPU tensors, and PyTorch's foreach/fused variants: on the CPU its default is the per-tensor
// loop (`_single_tensor_*` in torch/optim/*.py), which these headers follow.
//
// State dict keys (PyTorch's Optimizer.state_dict(), flattened; https://pytorch.org/docs/1.13/
// generated/torch.optim.Optimizer.state_dict.html):
//   param_groups.G.num_params      parameters in group G (PyTorch lists their indices)
//   param_groups.G.<option>        e.g. param_groups.0.lr, param_groups.0.betas.1; bools as 0/1
//   param_groups.G.initial_lr      present once an LR scheduler is attached (PyTorch's too)
//   state.I.<field>                per-parameter state, e.g. state.3.momentum_buffer, state.3.step;
//                                  I counts parameters across groups in order, as PyTorch does
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/factories.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace lacoot::optim {

// A snapshot that a checkpoint can store: tensors and scalars under flat names. The tensors
// are copies, so stepping on after state_dict() does not change a snapshot already taken.
struct StateDict {
  std::vector<std::pair<std::string, Tensor>> tensors;  // the same type as nn::StateDict
  std::vector<std::pair<std::string, double>> scalars;  // counts (exact up to 2^53) and options

  void add(std::string name, Tensor t) { tensors.emplace_back(std::move(name), std::move(t)); }
  void add(std::string name, double v) { scalars.emplace_back(std::move(name), v); }
  const Tensor* find_tensor(const std::string& name) const {
    for (const auto& [k, t] : tensors)
      if (k == name) return &t;
    return nullptr;
  }
  const double* find_scalar(const std::string& name) const {
    for (const auto& [k, v] : scalars)
      if (k == name) return &v;
    return nullptr;
  }
};

// Parameters that share hyper-parameters, as a dict in PyTorch's param_groups:
//   optim::SGDOptions no_wd = options;  no_wd.weight_decay = 0;
//   optim::SGD opt({{decay}, {no_decay, no_wd}}, options);
// A group without options uses the optimiser's defaults; names (optional, one per parameter,
// e.g. from named_parameters()) only appear in error messages. When no group has options,
// spell the type, as a list of lists of tensors also reads as a list of tensors:
//   optim::SGD opt(std::vector<optim::SGD::ParamGroup>{{{a}}, {{b}}}, options);
template <class Options>
struct ParamGroup {
  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> params, std::optional<Options> options = std::nullopt,
             std::vector<std::string> names = {})
      : params(std::move(params)), options(std::move(options)), names(std::move(names)) {}

  std::vector<Tensor> params;
  std::optional<Options> options;
  std::vector<std::string> names;
};

// The interface of every optimiser.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;  // state tensors and schedulers' pointers would alias
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of each parameter that has a gradient; one without (grad() undefined) is
  // skipped and its state left as it was, as in PyTorch.
  virtual void step() = 0;

  // Clears the gradients before the next backward pass. set_to_none = true (PyTorch 2's
  // default; 1.13's was false) drops them: memory is freed and the next backward stores a
  // fresh tensor. false fills existing gradients with zeros in place, as PyTorch's zero_().
  void zero_grad(bool set_to_none = true) {
    for (const Group& g : groups_)
      for (const Tensor& p : g.params) {
        Tensor grad = p.grad();
        if (!grad.defined()) continue;
        if (set_to_none) {
          Tensor(p).set_grad(Tensor());
        } else {
          detail::fill(grad.raw_data(), grad.dtype(), grad.numel(), 0.0, grad.device());
        }
      }
  }

  const std::string& name() const { return name_; }
  std::size_t num_param_groups() const { return groups_.size(); }
  std::size_t num_params() const { return num_params_; }
  const std::vector<Tensor>& params(std::size_t group) const { return groups_[check_group(group)].params; }

  // The learning rate of a group, which LR schedulers set before each step.
  virtual double lr(std::size_t group) const = 0;
  virtual void set_lr(std::size_t group, double lr) = 0;
  // The lr a group had when the first scheduler was attached (PyTorch's group['initial_lr']).
  std::optional<double> initial_lr(std::size_t group) const { return groups_[check_group(group)].initial_lr; }
  void set_initial_lr(std::size_t group, double lr) { groups_[check_group(group)].initial_lr = lr; }

  virtual StateDict state_dict() const = 0;
  // Restores hyper-parameters and state saved by state_dict() of an optimiser of the same kind
  // over parameters of the same shapes, in the same groups and order. The state is copied (and
  // converted to each parameter's dtype); on error nothing is changed.
  virtual void load_state_dict(const StateDict& state) = 0;

 protected:
  struct Group {
    std::vector<Tensor> params;
    std::vector<std::string> names;
    std::optional<double> initial_lr;
    std::size_t first = 0;  // the index I of params[0] in "state.I.*"
  };

  // Checks the parameters as torch.optim.Optimizer.__init__ does, and a few more things.
  Optimizer(std::string name, std::vector<Group> groups) : name_(std::move(name)), groups_(std::move(groups)) {
    std::unordered_set<const void*> seen;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      Group& grp = groups_[g];
      LACOOT_CHECK(grp.names.empty() || grp.names.size() == grp.params.size(), name_, ": parameter group ",
                   g, " has ", grp.params.size(), " parameters but ", grp.names.size(),
                   " names (hint: give one name per parameter, or none)");
      grp.first = num_params_;
      num_params_ += grp.params.size();
      for (std::size_t k = 0; k < grp.params.size(); ++k) {
        const Tensor& p = grp.params[k];
        const std::string where = name_ + ": parameter " + std::to_string(k) + " of group " + std::to_string(g) +
                                  (grp.names.empty() ? "" : " (" + grp.names[k] + ")");
        LACOOT_CHECK(p.defined(), where, " is an undefined Tensor");
        LACOOT_CHECK(is_floating(p.dtype()), where, " is ", dtype_name(p.dtype()),
                     ", expected float32 or float64");
        LACOOT_CHECK(p.is_leaf(), where, " was made by an op; an optimiser updates leaf tensors "
                     "(hint: pass t.detach().requires_grad_())");
        LACOOT_CHECK(p.device().is_cpu(), where, " is on ", p.device().str(),
                     "; optimisers run on the CPU in this build");
        // Two handles to the same elements would be updated twice per step.
        const void* key = p.numel() > 0 ? p.raw_data() : static_cast<const void*>(&p.impl());
        LACOOT_CHECK(seen.insert(key).second, where, " appears more than once (the same tensor, "
                     "or one sharing its elements, is already in a group); each parameter may be "
                     "in only one group, once");
      }
    }
    LACOOT_CHECK(num_params_ > 0, name_, ": got an empty parameter list (hint: pass "
                 "model.parameters(), or tensors made with requires_grad_())");
  }

  std::size_t check_group(std::size_t group) const {
    LACOOT_CHECK(group < groups_.size(), name_, ": parameter group ", group, " does not exist (there are ",
                 groups_.size(), ")");
    return group;
  }

  // "parameter 3 (fc.weight)": the index I used in state dict keys, and the name when given.
  std::string param_label(std::size_t g, std::size_t k) const {
    const Group& grp = groups_[g];
    return "parameter " + std::to_string(grp.first + k) + (grp.names.empty() ? "" : " (" + grp.names[k] + ")");
  }

  std::string name_;
  std::vector<Group> groups_;
  std::size_t num_params_ = 0;
};

}  // namespace lacoot::optim

namespace lacoot::detail {

// Update loops run over contiguous arrays; below this many elements they stay on one thread.
// Each element is updated on its own, so the result never depends on the thread count.
inline constexpr int64_t kOptimGrain = int64_t{1} << 15;

// Looks keys up in a StateDict and remembers which were used, so that load_state_dict can
// reject the keys that nothing asked for.
class StateDictReader {
 public:
  StateDictReader(const optim::StateDict& sd, std::string who) : who_(std::move(who)) {
    for (std::size_t i = 0; i < sd.tensors.size(); ++i) insert(sd.tensors[i].first, &sd.tensors[i].second, nullptr);
    for (std::size_t i = 0; i < sd.scalars.size(); ++i) insert(sd.scalars[i].first, nullptr, &sd.scalars[i].second);
  }
  const std::string& who() const { return who_; }
  bool has(const std::string& key) const { return entries_.count(key) > 0; }
  // nullptr when absent; a key of the other kind (a tensor where a scalar is wanted) throws.
  const Tensor* tensor(const std::string& key) { return find(key, /*want_tensor=*/true).tensor; }
  const double* scalar(const std::string& key) { return find(key, /*want_tensor=*/false).scalar; }
  double require_scalar(const std::string& key, const char* hint) {
    const double* v = scalar(key);
    LACOOT_CHECK(v != nullptr, who_, ": the state dict has no key ", key, " (", hint, ")");
    return *v;
  }
  void check_all_used() const {
    for (const std::string& key : order_)
      LACOOT_CHECK(used_.count(key), who_, ": unexpected key ", key, " in the state dict (hint: it was "
                   "saved by another kind of optimiser or scheduler, or over more parameters)");
  }

 private:
  struct Entry {
    const Tensor* tensor = nullptr;
    const double* scalar = nullptr;
  };
  void insert(const std::string& key, const Tensor* t, const double* s) {
    LACOOT_CHECK(entries_.emplace(key, Entry{t, s}).second, who_, ": the key ", key, " appears twice in the state dict");
    order_.push_back(key);
  }
  Entry find(const std::string& key, bool want_tensor) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return {};
    LACOOT_CHECK((it->second.tensor != nullptr) == want_tensor, who_, ": ", key, " should be a ",
                 want_tensor ? "tensor" : "scalar", " but the state dict holds a ", want_tensor ? "scalar" : "tensor");
    used_.insert(key);
    return it->second;
  }
  std::string who_;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<std::string> order_;
  std::unordered_set<std::string> used_;
};

// One group from (name, tensor) pairs, as nn::Module::named_parameters() returns them.
template <class Options>
optim::ParamGroup<Options> named_group(const std::vector<std::pair<std::string, Tensor>>& named) {
  optim::ParamGroup<Options> g;
  for (const auto& [name, t] : named) {
    g.params.push_back(t);
    g.names.push_back(name);
  }
  return g;
}

// A bool option is stored as 0 or 1, any other option as its value.
template <class V>
V option_from_scalar(double x, const std::string& key, const std::string& who) {
  if constexpr (std::is_same_v<V, bool>) {
    LACOOT_CHECK(x == 0 || x == 1, who, ": ", key, " is a flag and should be 0 or 1, found ", x);
    return x == 1;
  } else {
    return static_cast<V>(x);
  }
}

// The shared machinery of SGD, Adam and AdamW. Options: the hyper-parameters of a group, with
// a double `lr`, validate(who), and visit(f) calling f(name, field&) for each field to save.
// State: one parameter's state, with visit(options, f) calling f(name, field&, required) for
// each Tensor or int64_t field (undefined tensors are not saved; a state loaded without a
// required field is rejected).
template <class Options, class State>
class OptimizerBase : public optim::Optimizer {
 public:
  using ParamGroup = optim::ParamGroup<Options>;

  const Options& options(std::size_t group) const { return options_[check_group(group)]; }
  // New hyper-parameters for a group, validated as the constructor does.
  void set_options(std::size_t group, const Options& o) {
    o.validate(name_);
    options_[check_group(group)] = o;
  }
  // State of parameter I (counting across groups); empty before its first update.
  const std::optional<State>& state(std::size_t index) const {
    LACOOT_CHECK(index < state_.size(), name_, ": parameter ", index, " does not exist (there are ", state_.size(), ")");
    return state_[index];
  }

  double lr(std::size_t group) const override { return options_[check_group(group)].lr; }
  void set_lr(std::size_t group, double lr) override {
    LACOOT_CHECK(lr >= 0, name_, ": a learning rate must be >= 0, got ", lr, " for group ", group);
    options_[check_group(group)].lr = lr;
  }

  void step() override {
    for (std::size_t g = 0; g < groups_.size(); ++g)
      for (std::size_t k = 0; k < groups_[g].params.size(); ++k) {
        const Tensor& p = groups_[g].params[k];
        const Tensor grad = p.grad();
        if (!grad.defined()) continue;
        LACOOT_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype(), name_, ".step: the gradient of ",
                     param_label(g, k), " is ", dtype_name(grad.dtype()), " ", shape_str(grad.shape()),
                     " but the parameter is ", dtype_name(p.dtype()), " ", shape_str(p.shape()));
        update(p, grad, state_[groups_[g].first + k], options_[g]);
      }
  }

  optim::StateDict state_dict() const override {
    optim::StateDict sd;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const std::string prefix = "param_groups." + std::to_string(g) + ".";
      sd.add(prefix + "num_params", static_cast<double>(groups_[g].params.size()));
      Options o = options_[g];
      o.visit([&](const char* field, auto& v) { sd.add(prefix + field, static_cast<double>(v)); });
      if (groups_[g].initial_lr) sd.add(prefix + "initial_lr", *groups_[g].initial_lr);
    }
    for (std::size_t g = 0; g < groups_.size(); ++g)
      for (std::size_t i = groups_[g].first; i < groups_[g].first + groups_[g].params.size(); ++i) {
        if (!state_[i]) continue;
        State s = *state_[i];
        const std::string prefix = "state." + std::to_string(i) + ".";
        s.visit(options_[g], [&](const char* field, auto& v, bool) {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, Tensor>) {
            if (v.defined()) sd.add(prefix + field, v.clone());
          } else {
            sd.add(prefix + field, static_cast<double>(v));
          }
        });
      }
    return sd;
  }

  void load_state_dict(const optim::StateDict& sd) override {
    StateDictReader in(sd, name_ + ".load_state_dict");
    const std::size_t G = groups_.size();
    std::vector<Options> options = options_;
    std::vector<std::optional<double>> initial(G);
    for (std::size_t g = 0; g < G; ++g) {
      const std::string prefix = "param_groups." + std::to_string(g) + ".";
      const double n = in.require_scalar(prefix + "num_params", "this optimiser has more parameter groups than "
                                         "the one saved, or the dict is not an optimiser's");
      LACOOT_CHECK(n == static_cast<double>(groups_[g].params.size()), in.who(), ": parameter group ", g, " has ",
                   groups_[g].params.size(), " parameters but the state dict's ", prefix, "num_params is ", n,
                   " (hint: build the optimiser over the same parameters, in the same groups and order)");
      options[g].visit([&](const char* field, auto& v) {
        const std::string key = prefix + field;
        v = option_from_scalar<std::decay_t<decltype(v)>>(in.require_scalar(key, "saved by another kind of "
                                                          "optimiser?"), key, in.who());
      });
      options[g].validate(in.who());
      if (const double* lr0 = in.scalar(prefix + "initial_lr")) initial[g] = *lr0;
    }
    LACOOT_CHECK(!in.has("param_groups." + std::to_string(G) + ".num_params"), in.who(), ": the state dict has "
                 "more parameter groups than the ", G, " of this optimiser");
    std::vector<std::optional<State>> state(num_params_);
    for (std::size_t g = 0; g < G; ++g)
      for (std::size_t k = 0; k < groups_[g].params.size(); ++k)
        state[groups_[g].first + k] = load_param_state(in, g, k, options[g]);
    in.check_all_used();
    // Everything checked: commit.
    options_ = std::move(options);
    state_ = std::move(state);
    for (std::size_t g = 0; g < G; ++g) groups_[g].initial_lr = initial[g];
  }

 protected:
  OptimizerBase(std::string name, std::vector<ParamGroup> groups, const Options& defaults)
      : optim::Optimizer(name, untyped(groups)) {
    defaults.validate(name_);
    for (const ParamGroup& g : groups) {
      options_.push_back(g.options ? *g.options : defaults);
      options_.back().validate(name_);
    }
    state_.resize(num_params_);
  }

  // One parameter's update: p and grad share shape and dtype; state is empty before the first.
  virtual void update(const Tensor& p, const Tensor& grad, std::optional<State>& state, const Options& o) = 0;

  std::vector<Options> options_;
  std::vector<std::optional<State>> state_;

 private:
  static std::vector<Group> untyped(const std::vector<ParamGroup>& groups) {
    std::vector<Group> out;
    for (const ParamGroup& g : groups) out.push_back(Group{g.params, g.names, std::nullopt, 0});
    return out;
  }

  // state.I.* for one parameter: all of it, none of it (never updated), or an error.
  std::optional<State> load_param_state(StateDictReader& in, std::size_t g, std::size_t k, const Options& o) const {
    const Tensor& p = groups_[g].params[k];
    const std::string prefix = "state." + std::to_string(groups_[g].first + k) + ".";
    State s;
    bool any = false;
    std::string missing;
    s.visit(o, [&](const char* field, auto& v, bool required) {
      const std::string key = prefix + field;
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, Tensor>) {
        const Tensor* t = in.tensor(key);
        if (t == nullptr) {
          if (required && missing.empty()) missing = key;
          return;
        }
        LACOOT_CHECK(t->defined() && t->shape() == p.shape(), in.who(), ": ", key, " has shape ",
                     t->defined() ? shape_str(t->shape()) : "(undefined)", " but ", param_label(g, k),
                     " has shape ", shape_str(p.shape()), " (hint: the state dict was saved from an optimiser "
                     "over other parameters, or in another order)");
        LACOOT_CHECK(is_floating(t->dtype()), in.who(), ": ", key, " is ", dtype_name(t->dtype()),
                     ", expected a float tensor");
        // A copy in the parameter's dtype, on the parameter's device (a file's state is on the CPU).
        v = (t->dtype() == p.dtype() ? t->clone() : t->to(p.dtype())).to(p.device());
      } else {
        const double* x = in.scalar(key);
        if (x == nullptr) {
          if (required && missing.empty()) missing = key;
          return;
        }
        LACOOT_CHECK(*x >= 0 && *x == std::floor(*x), in.who(), ": ", key, " is a count and should be a "
                     "whole number >= 0, found ", *x);
        v = static_cast<std::decay_t<decltype(v)>>(*x);
      }
      any = true;
    });
    if (!any) return std::nullopt;
    LACOOT_CHECK(missing.empty(), in.who(), ": the state dict has state for ", param_label(g, k), " but no ",
                 missing, " (hint: it was saved with other options, e.g. amsgrad off, or is truncated)");
    return s;
  }
};

}  // namespace lacoot::detail
