// lacoot/models/dit.hpp — DiT, the Diffusion Transformer (Peebles & Xie, ICCV 2023, arXiv
// 2212.09748), with the names of facebookresearch/DiT's models.py, so its checkpoints load.
//
// Holds: DiTOptions and the configurations dit_s2, dit_b2, dit_l2, dit_xl2 (dit_config by name);
// the modules PatchEmbed, TimestepEmbedder, LabelEmbedder, Attention, Mlp, DiTBlock, FinalLayer
// and DiT (forward(x, t, y), forward_with_cfg, unpatchify), and get_2d_sincos_pos_embed.
// Needs: nn/ (layers, init, block marks), ops/transformer.hpp (attention, timestep embedding,
// modulate), ops/norm.hpp.
// Leaves out: the diffusion process around the model (training loss, samplers), the VAE whose
// latents the published models take (a DiT here may be trained on pixels: in_channels, input_size).
//
// The layout (specs/architectures.md §5), for latents x [N, C, I, I], timesteps t [N] (float) and
// class labels y [N] (int64):
//   tokens = x_embedder(x) + pos_embed          [N, T, D], T = (I / p)², a p×p patch per token
//   c = t_embedder(t) + y_embedder(y)           [N, D], the conditioning
//   blocks: x += gate · attn(modulate(LN(x), shift, scale)), then the same for the MLP, the six
//           (shift, scale, gate) vectors from adaLN_modulation(c) ("adaLN-Zero": initialised to
//           zero, so each block starts as the identity)
//   final_layer(x, c) → unpatchify                [N, C_out, I, I], C_out = 2C with learn_sigma
//                                                 (channels [0, C): ε, [C, 2C): the variance value)
// Removable blocks: every DiTBlock (METHOD.md: LaCoOT compares each block's input and output).
// A block is a one-input module, as the block machinery wants: DiT hands each block the
// conditioning c of the current call (DiTBlock::condition) before calling it, so a block
// replaced by the identity simply passes x on.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../core/rng.hpp"
#include "../nn/activation.hpp"
#include "../nn/container.hpp"
#include "../nn/init.hpp"
#include "../nn/linear.hpp"
#include "../nn/normalization.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/shape.hpp"
#include "../ops/transformer.hpp"

namespace lacoot::models {

using namespace lacoot::nn;

struct DiTOptions {
  int64_t input_size = 32;          // I: latents are I×I (32 for 256-pixel images through the VAE)
  int64_t patch_size = 2;           // p
  int64_t in_channels = 4;          // C
  int64_t hidden_size = 1152;       // D
  int64_t depth = 28;               // DiT blocks
  int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  double class_dropout_prob = 0.1;  // labels replaced by the null class in training (for guidance)
  int64_t num_classes = 1000;
  bool learn_sigma = true;          // also predict the variance: 2C output channels
};

// The paper's configurations (Table 1), patch 2; `base` gives everything else (input size,
// channels, classes).
inline DiTOptions dit_config(int64_t hidden, int64_t depth, int64_t heads, DiTOptions base) {
  base.hidden_size = hidden;
  base.depth = depth;
  base.num_heads = heads;
  base.patch_size = 2;
  return base;
}
inline DiTOptions dit_s2(DiTOptions base = {}) { return dit_config(384, 12, 6, base); }
inline DiTOptions dit_b2(DiTOptions base = {}) { return dit_config(768, 12, 12, base); }
inline DiTOptions dit_l2(DiTOptions base = {}) { return dit_config(1024, 24, 16, base); }
inline DiTOptions dit_xl2(DiTOptions base = {}) { return dit_config(1152, 28, 16, base); }
// By name: "dit-s2", "dit-b2", "dit-l2", "dit-xl2" (DiT-S/2 ... DiT-XL/2).
inline DiTOptions dit_config(const std::string& name, DiTOptions base = {}) {
  if (name == "dit-s2") return dit_s2(base);
  if (name == "dit-b2") return dit_b2(base);
  if (name == "dit-l2") return dit_l2(base);
  if (name == "dit-xl2") return dit_xl2(base);
  throw Error(detail::concat("dit_config: unknown configuration \"", name, "\" (expected dit-s2, dit-b2, dit-l2 "
                             "or dit-xl2)"));
}

// The fixed 2-D sine-cosine position embedding [grid², D] (MAE's get_2d_sincos_pos_embed, which
// DiT uses): for the token at (row r, column c), t = r·grid + c, with E = D/2 and
// ω_k = 10000^(−k / (E/2)), k = 0 .. E/2 − 1,
//   [0, E) = [sin(c·ω), cos(c·ω)]  (the column first),   [E, D) = [sin(r·ω), cos(r·ω)].
// Computed in float64. D must be a multiple of 4.
inline Tensor get_2d_sincos_pos_embed(int64_t D, int64_t grid) {
  LACOOT_CHECK(D % 4 == 0, "get_2d_sincos_pos_embed: the embedding size must be a multiple of 4, got ", D);
  const int64_t E = D / 2, quarter = E / 2;
  Tensor pos = Tensor::empty({grid * grid, D}, kFloat64);
  double* p = pos.data<double>();
  for (int64_t r = 0; r < grid; ++r)
    for (int64_t c = 0; c < grid; ++c) {
      double* row = p + (r * grid + c) * D;
      for (int64_t k = 0; k < quarter; ++k) {
        const double omega = std::pow(10000.0, -static_cast<double>(k) / static_cast<double>(quarter));
        row[k] = std::sin(static_cast<double>(c) * omega);
        row[quarter + k] = std::cos(static_cast<double>(c) * omega);
        row[E + k] = std::sin(static_cast<double>(r) * omega);
        row[E + quarter + k] = std::cos(static_cast<double>(r) * omega);
      }
    }
  return pos;
}

// x [N, C, I, I] → tokens [N, (I/p)², D]: a p×p, stride-p convolution, flattened row by row
// (timm's PatchEmbed; token n is patch (n / (I/p), n % (I/p))).
class PatchEmbed : public Module {
 public:
  PatchEmbed(int64_t patch_size, int64_t in_channels, int64_t embed_dim) : Module("PatchEmbed") {
    proj = register_module("proj", std::make_shared<Conv2d>(in_channels, embed_dim, patch_size,
                                                              Conv2dModuleOptions{.stride = patch_size}));
  }
  Tensor forward(const Tensor& x) override { return transpose(flatten((*proj)(x), 2), 1, 2); }
  std::shared_ptr<Conv2d> proj;
};

// t [N] → [N, D]: the sinusoidal embedding of 256 frequencies (ops/transformer.hpp), then
// Linear → SiLU → Linear (mlp.0, mlp.2).
class TimestepEmbedder : public Module {
 public:
  static constexpr int64_t frequency_embedding_size = 256;
  explicit TimestepEmbedder(int64_t hidden_size) : Module("TimestepEmbedder") {
    mlp = register_module("mlp", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                                     std::make_shared<Linear>(frequency_embedding_size, hidden_size),
                                     std::make_shared<SiLU>(), std::make_shared<Linear>(hidden_size, hidden_size)}));
  }
  Tensor forward(const Tensor& t) override { return (*mlp)(timestep_embedding(t, frequency_embedding_size)); }
  std::shared_ptr<Sequential> mlp;
};

// labels y [N] (int64, in [0, num_classes)) → [N, D]. The table has one row more, the null
// class num_classes, when dropout_prob > 0: in training each label is replaced by it with that
// probability (drawn from lacoot's default generator), so the model also learns the
// unconditional prediction classifier-free guidance needs; force_drop (0/1 per sample) drops
// the chosen labels in any mode.
class LabelEmbedder : public Module {
 public:
  LabelEmbedder(int64_t num_classes, int64_t hidden_size, double dropout_prob)
      : Module("LabelEmbedder"), num_classes(num_classes), dropout_prob(dropout_prob) {
    embedding_table = register_module("embedding_table",
                                      std::make_shared<Embedding>(num_classes + (dropout_prob > 0), hidden_size));
  }
  Tensor forward(const Tensor& labels) override { return embed(labels); }
  Tensor embed(const Tensor& labels, const Tensor& force_drop = {}) {
    LACOOT_CHECK(labels.dim() == 1 && labels.dtype() == kInt64, "LabelEmbedder: expected labels of shape [N], "
                 "int64, got shape ", shape_str(labels.shape()), " (", dtype_name(labels.dtype()), ")");
    const bool random_drop = is_training() && dropout_prob > 0;
    if (!random_drop && !force_drop.defined()) return (*embedding_table)(labels);
    LACOOT_CHECK(dropout_prob > 0, "LabelEmbedder: labels can only be dropped with a null class (dropout_prob > 0)");
    Tensor y = labels.to(kCPU).clone(), drop;
    if (force_drop.defined()) drop = force_drop.to(kInt64).to(kCPU);
    else drop = lt(rand({labels.size(0)}, kFloat64), dropout_prob).to(kInt64);
    LACOOT_CHECK(drop.numel() == y.numel(), "LabelEmbedder: force_drop has ", drop.numel(), " entries for ",
                 y.numel(), " labels");
    for (int64_t i = 0; i < y.numel(); ++i)
      if (drop.data<int64_t>()[i] != 0) y.data<int64_t>()[i] = num_classes;
    return (*embedding_table)(y.to(labels.device()));
  }
  const int64_t num_classes;
  const double dropout_prob;
  std::shared_ptr<Embedding> embedding_table;
};

// Multi-head self-attention over tokens [N, T, D] (timm's Attention): qkv = Linear(D, 3D) gives
// q = [0, D), k = [D, 2D), v = [2D, 3D), head h the features [h·hd, (h+1)·hd); then proj.
class Attention : public Module {
 public:
  Attention(int64_t dim, int64_t num_heads) : Module("Attention"), num_heads(num_heads) {
    LACOOT_CHECK(num_heads > 0 && dim % num_heads == 0, "Attention: dim ", dim, " is not divisible by ",
                 num_heads, " heads");
    qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim));
    proj = register_module("proj", std::make_shared<Linear>(dim, dim));
  }
  Tensor forward(const Tensor& x) override {
    const int64_t N = x.size(0), T = x.size(1), D = x.size(2);
    Tensor h = permute(reshape((*qkv)(x), {N, T, 3, num_heads, D / num_heads}), {2, 0, 3, 1, 4});
    Tensor out = scaled_dot_product_attention(select(h, 0, 0), select(h, 0, 1), select(h, 0, 2));  // [N, H, T, hd]
    return (*proj)(reshape(transpose(out, 1, 2), {N, T, D}));
  }
  const int64_t num_heads;
  std::shared_ptr<Linear> qkv, proj;
};

// fc1 → GELU (tanh approximation) → fc2 (timm's Mlp as DiT builds it).
class Mlp : public Module {
 public:
  Mlp(int64_t dim, int64_t hidden) : Module("Mlp") {
    fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden));
    act = register_module("act", std::make_shared<GELU>("tanh"));
    fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*act)((*fc1)(x))); }
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<GELU> act;
};

// The conditioning's adaLN vectors: Linear(D, k·D)(SiLU(c)), cut into k pieces of D.
inline std::vector<Tensor> adaln_chunks(Sequential& modulation, const Tensor& c, int64_t k) {
  LACOOT_CHECK(c.defined(), "DiT: a block was called without its conditioning (call the DiT, not the block)");
  return chunk(modulation(c), k, 1);
}

// One DiT block with adaLN-Zero conditioning, tokens [N, T, D] → [N, T, D]; `condition` [N, D]
// is set by the DiT before each call.
class DiTBlock : public Module {
 public:
  DiTBlock(int64_t hidden, int64_t num_heads, double mlp_ratio) : Module("DiTBlock") {
    norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{hidden}, 1e-6, false));
    attn = register_module("attn", std::make_shared<Attention>(hidden, num_heads));
    norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{hidden}, 1e-6, false));
    mlp = register_module("mlp", std::make_shared<Mlp>(hidden, static_cast<int64_t>(hidden * mlp_ratio)));
    adaLN_modulation = register_module("adaLN_modulation", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                                                               std::make_shared<SiLU>(), std::make_shared<Linear>(hidden, 6 * hidden)}));
    mark_block();
  }
  Tensor forward(const Tensor& x) override {
    // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
    const std::vector<Tensor> m = adaln_chunks(*adaLN_modulation, condition, 6);
    Tensor h = x + unsqueeze(m[2], 1) * (*attn)(modulate((*norm1)(x), m[0], m[1]));
    return h + unsqueeze(m[5], 1) * (*mlp)(modulate((*norm2)(h), m[3], m[4]));
  }
  Tensor condition;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Attention> attn;
  std::shared_ptr<Mlp> mlp;
  std::shared_ptr<Sequential> adaLN_modulation;
};

// modulate(LN(x), shift, scale) → Linear(D, p²·C_out): the per-token patch values.
class FinalLayer : public Module {
 public:
  FinalLayer(int64_t hidden, int64_t patch_size, int64_t out_channels) : Module("FinalLayer") {
    norm_final = register_module("norm_final", std::make_shared<LayerNorm>(Shape{hidden}, 1e-6, false));
    linear = register_module("linear", std::make_shared<Linear>(hidden, patch_size * patch_size * out_channels));
    adaLN_modulation = register_module("adaLN_modulation", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                                                               std::make_shared<SiLU>(), std::make_shared<Linear>(hidden, 2 * hidden)}));
  }
  Tensor forward(const Tensor& x) override {
    const std::vector<Tensor> m = adaln_chunks(*adaLN_modulation, condition, 2);  // shift, scale
    return (*linear)(modulate((*norm_final)(x), m[0], m[1]));
  }
  Tensor condition;
  std::shared_ptr<LayerNorm> norm_final;
  std::shared_ptr<Linear> linear;
  std::shared_ptr<Sequential> adaLN_modulation;
};

class DiT : public Module {
 public:
  explicit DiT(const DiTOptions& o) : Module("DiT"), options(o), out_channels(o.learn_sigma ? 2 * o.in_channels : o.in_channels) {
    LACOOT_CHECK(o.patch_size > 0 && o.input_size % o.patch_size == 0, "DiT: input_size ", o.input_size,
                 " is not a multiple of patch_size ", o.patch_size);
    grid = o.input_size / o.patch_size;
    x_embedder = register_module("x_embedder", std::make_shared<PatchEmbed>(o.patch_size, o.in_channels, o.hidden_size));
    t_embedder = register_module("t_embedder", std::make_shared<TimestepEmbedder>(o.hidden_size));
    y_embedder = register_module("y_embedder", std::make_shared<LabelEmbedder>(o.num_classes, o.hidden_size,
                                                                               o.class_dropout_prob));
    // Fixed, not trained (requires_grad = false), but in the state_dict, as DiT's nn.Parameter.
    pos_embed = register_parameter("pos_embed", reshape(get_2d_sincos_pos_embed(o.hidden_size, grid).to(kFloat32),
                                                        {1, grid * grid, o.hidden_size}), /*requires_grad=*/false);
    blocks = register_module("blocks", std::make_shared<Sequential>());
    for (int64_t i = 0; i < o.depth; ++i)
      blocks->push_back(std::make_shared<DiTBlock>(o.hidden_size, o.num_heads, o.mlp_ratio));
    final_layer = register_module("final_layer", std::make_shared<FinalLayer>(o.hidden_size, o.patch_size, out_channels));
    initialize_weights();
  }

  // The noise prediction (and variance values) for latents x [N, C, I, I] at timesteps t [N]
  // (floating) for labels y [N] (int64): [N, C_out, I, I]. force_drop (optional, [N] of 0/1)
  // replaces the chosen labels by the null class.
  Tensor operator()(const Tensor& x, const Tensor& t, const Tensor& y, const Tensor& force_drop = {}) {
    Tensor c;
    {
      autograd::ScopeGuard scope(this);  // the conditioning's ops are the DiT's own (graph::trace names them)
      c = (*t_embedder)(t) + y_embedder->embed(y, force_drop);
    }
    condition_ = c;
    Tensor out = Module::operator()(x);  // forward(x), with c for the blocks; hooks run
    condition_ = Tensor();
    return out;
  }
  // What graph::trace runs (MACs, collapse): timestep 0 and the null class; the figures do not
  // depend on either.
  Tensor traced_call(const Tensor& x) override {
    const Device device = x.device();
    return (*this)(x, zeros({x.size(0)}, x.dtype(), device), full({x.size(0)}, options.num_classes, kInt64, device));
  }

  // forward takes the conditioning set by operator()(x, t, y): call that.
  Tensor forward(const Tensor& x) override {
    LACOOT_CHECK(condition_.defined(), "DiT: call the model as dit(x, t, y) (timesteps and labels are needed)");
    Tensor h = (*x_embedder)(x) + pos_embed;
    for (std::size_t i = 0; i < blocks->size(); ++i) {
      ModulePtr b = (*blocks)[i];
      if (auto block = std::dynamic_pointer_cast<DiTBlock>(b)) block->condition = condition_;
      h = (*b)(h);
      if (auto block = std::dynamic_pointer_cast<DiTBlock>(b)) block->condition = Tensor();
    }
    final_layer->condition = condition_;
    h = (*final_layer)(h);
    final_layer->condition = Tensor();
    return unpatchify(h);
  }

  // Classifier-free guidance (DiT's forward_with_cfg): x holds the samples twice, the second
  // half for y = the null class; the first `guided_channels` output channels become
  // uncond + scale · (cond − uncond) in both halves (DiT guides 3 of the 4 ε channels by
  // default, for exact reproducibility of its paper's numbers); the rest pass through.
  Tensor forward_with_cfg(const Tensor& x, const Tensor& t, const Tensor& y, double cfg_scale,
                          int64_t guided_channels = 3) {
    LACOOT_CHECK(x.size(0) % 2 == 0, "DiT::forward_with_cfg: expected an even batch (conditional then "
                 "unconditional halves), got ", x.size(0));
    const int64_t half = x.size(0) / 2;
    Tensor x_half = narrow(x, 0, 0, half);
    Tensor out = (*this)(cat({x_half, x_half}, 0), t, y);
    Tensor eps = narrow(out, 1, 0, guided_channels), rest = narrow(out, 1, guided_channels, out.size(1) - guided_channels);
    Tensor cond = narrow(eps, 0, 0, half), uncond = narrow(eps, 0, half, half);
    Tensor guided = uncond + (cond - uncond) * cfg_scale;
    return cat({cat({guided, guided}, 0), rest}, 1);
  }

  // tokens [N, T, p²·C_out] → [N, C_out, I, I]: token (row, col)'s value (a, b, ch) (index
  // (a·p + b)·C_out + ch) goes to pixel (row·p + a, col·p + b) of channel ch.
  Tensor unpatchify(const Tensor& tokens) const {
    const int64_t N = tokens.size(0), p = options.patch_size, C = out_channels;
    Tensor t = reshape(tokens, {N, grid, grid, p, p, C});
    return reshape(permute(t, {0, 5, 1, 3, 2, 4}), {N, C, grid * p, grid * p});
  }

  // DiT's initialize_weights: xavier-uniform Linear weights (the patch convolution's as a
  // [D, C·p²] matrix), zero biases, N(0, 0.02) for the label table and the timestep MLP's
  // weights, and zeros for every adaLN modulation and the final linear layer (adaLN-Zero).
  void initialize_weights() {
    NoGradGuard no_grad;
    for (auto& [name, m] : named_modules())
      if (auto* l = dynamic_cast<Linear*>(m)) {
        init::xavier_uniform_(l->weight);
        if (l->bias.defined()) init::zeros_(l->bias);
      }
    Tensor w = x_embedder->proj->weight;
    Tensor w2 = alias_with_shape(w, {w.size(0), w.numel() / w.size(0)});
    init::xavier_uniform_(w2);
    init::zeros_(x_embedder->proj->bias);
    init::normal_(y_embedder->embedding_table->weight, 0, 0.02);
    for (std::size_t i : {std::size_t{0}, std::size_t{2}})
      init::normal_(std::dynamic_pointer_cast<Linear>((*t_embedder->mlp)[i])->weight, 0, 0.02);
    auto zero_linear = [](Sequential& s) {
      auto l = std::dynamic_pointer_cast<Linear>(s[1]);
      init::zeros_(l->weight);
      init::zeros_(l->bias);
    };
    for (std::size_t i = 0; i < blocks->size(); ++i)
      zero_linear(*std::dynamic_pointer_cast<DiTBlock>((*blocks)[i])->adaLN_modulation);
    zero_linear(*final_layer->adaLN_modulation);
    init::zeros_(final_layer->linear->weight);
    init::zeros_(final_layer->linear->bias);
  }

  const DiTOptions options;
  const int64_t out_channels;
  int64_t grid = 0;  // I / p patches per side
  std::shared_ptr<PatchEmbed> x_embedder;
  std::shared_ptr<TimestepEmbedder> t_embedder;
  std::shared_ptr<LabelEmbedder> y_embedder;
  Tensor pos_embed;
  std::shared_ptr<Sequential> blocks;
  std::shared_ptr<FinalLayer> final_layer;

 private:
  Tensor condition_;  // c of the call in progress
};

inline std::shared_ptr<DiT> dit(const DiTOptions& options) { return std::make_shared<DiT>(options); }

}  // namespace lacoot::models
