// lacoot/models/swin.hpp — Swin Transformer (Liu et al., ICCV 2021, arXiv 2103.14030):
// torchvision 0.14's swin_t, with torchvision's names.
//
// Holds: ShiftedWindowAttention, SwinTransformerBlock, PatchMerging, SwinTransformer,
// SwinPair, SwinTransformerOptions, swin_t.
// Needs: nn/ (layers, init, block marks), ops/transformer.hpp (attention, windows, patch
// merging), ops/index.hpp (the relative position bias lookup).
// Leaves out: Swin V2 (cosine attention, the continuous position bias MLP, PatchMergingV2),
// non-square windows and patches; swin_s and swin_b are swin_t's options with other depths
// and widths.
//
// The layout (specs/architectures.md §4), for a [N, C, H, W] input, channels-last after the stem:
//   features.0        Conv2d(C, 96, 4, stride 4) → Permute NCHW→NHWC → LayerNorm(96)
//   features.1,3,5,7  stages of 2, 2, 6, 2 SwinTransformerBlocks, [N, H, W, 96·2^s] each
//   features.2,4,6    PatchMerging: ⌈H/2⌉ × ⌈W/2⌉, twice the channels
//   norm (LayerNorm) → permute NHWC→NCHW → avgpool → flatten → head (Linear)
// state_dict keys, shapes and order equal torchvision's (185 entries: a parameter count of
// 28,288,354 for 1000 classes, and 12 int64 relative_position_index buffers of 2,401), so its
// weights load unchanged.
//
// Removable blocks (METHOD.md §4): all 12 SwinTransformerBlocks, which keep [N, H, W, C]; the
// PatchMerging layers stay. SwinPair chooses what the regulariser compares: by default
// (SwinPair::block) each block's input and output, the pair every other model of lacoot uses
// and the one that says how far replacing the block by the identity moves the features;
// SwinPair::mlp_branch gives the LaCoOT reference's pair, the block's input (what enters norm1)
// and the output of its MLP branch (mlp.4) before stochastic depth and the second residual
// addition (specs/architectures.md §4.4). Either way the whole block is what collapse removes.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../nn/activation.hpp"
#include "../nn/block.hpp"
#include "../nn/container.hpp"
#include "../nn/linear.hpp"
#include "../nn/normalization.hpp"
#include "../nn/pooling.hpp"
#include "../ops/index.hpp"
#include "../ops/transformer.hpp"

namespace lacoot::models {

using namespace lacoot::nn;

// Window multi-head self-attention with a relative position bias, in windows shifted by
// shift_size (W-MSA when 0, SW-MSA otherwise), as torchvision's shifted_window_attention.
//   x [B, H, W, C] → [B, H, W, C]; heads of C / num_heads features; windows of w × w tokens.
// Parameters: qkv (Linear(C, 3C)), proj (Linear(C, C)) and relative_position_bias_table
// [(2w − 1)², heads]; buffer relative_position_index [w⁴] (int64).
class ShiftedWindowAttention : public Module {
 public:
  ShiftedWindowAttention(int64_t dim, int64_t window_size, int64_t shift_size, int64_t num_heads,
                         double attention_dropout = 0.0, double dropout = 0.0)
      : Module("ShiftedWindowAttention"), window_size(window_size), shift_size(shift_size), num_heads(num_heads),
        attention_dropout(attention_dropout), dropout(dropout) {
    LACOOT_CHECK(dim > 0 && num_heads > 0 && dim % num_heads == 0 && window_size > 0 && shift_size >= 0 &&
                     shift_size < window_size,
                 "ShiftedWindowAttention: expected dim (", dim, ") divisible by num_heads (", num_heads,
                 "), a positive window_size (", window_size, ") and 0 <= shift_size (", shift_size, ") < window_size");
    qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim));
    proj = register_module("proj", std::make_shared<Linear>(dim, dim));
    const int64_t side = 2 * window_size - 1, L = window_size * window_size;
    relative_position_bias_table = Tensor::empty({side * side, num_heads});
    init::trunc_normal_(relative_position_bias_table, 0, 0.02);
    relative_position_bias_table = register_parameter("relative_position_bias_table", relative_position_bias_table);
    // For tokens i = (hi, wi) and j = (hj, wj) of a window (i = w·hi + wi): the table row of their
    // offset, (hi − hj + w − 1)·(2w − 1) + (wi − wj + w − 1); 0 .. (2w − 1)² − 1.
    Tensor index = Tensor::empty({L * L}, kInt64);
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j < L; ++j)
        index.data<int64_t>()[i * L + j] = (i / window_size - j / window_size + window_size - 1) * side +
                                           (i % window_size - j % window_size + window_size - 1);
    relative_position_index = register_buffer("relative_position_index", index);
  }

  // B[h, i, j] = table[index[L·i + j], h]: [heads, L, L], L = w² tokens per window.
  Tensor relative_position_bias() const {
    const int64_t L = window_size * window_size;
    Tensor b = index_select(relative_position_bias_table, 0, relative_position_index);  // [L·L, heads]
    return permute(reshape(b, {L, L, num_heads}), {2, 0, 1});
  }

  Tensor forward(const Tensor& x) override {
    LACOOT_CHECK(x.dim() == 4 && x.size(3) == qkv->in_features, "ShiftedWindowAttention: expected x [B, H, W, ",
                 qkv->in_features, "] (channels last), got ", shape_str(x.shape()));
    const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3), w = window_size;
    // Zeros at the bottom and right up to multiples of the window. The padded tokens are not
    // masked, as in torchvision: their k and v are qkv's bias and they enter every softmax.
    const int64_t pad_b = (w - H % w) % w, pad_r = (w - W % w) % w, pH = H + pad_b, pW = W + pad_r;
    Tensor h = pad_b || pad_r ? pad(x, {0, 0, 0, pad_r, 0, pad_b}) : x;
    // A window that covers the whole (padded) axis is not shifted along it.
    const int64_t sh = w >= pH ? 0 : shift_size, sw = w >= pW ? 0 : shift_size;
    if (sh || sw) h = roll(h, {-sh, -sw}, {1, 2});  // the cyclic shift

    const int64_t nW = (pH / w) * (pW / w), L = w * w, hd = C / num_heads;
    Tensor t = (*qkv)(window_partition(h, w, w));                                   // [B·nW, L, 3C]
    t = permute(reshape(t, {B, nW, L, 3, num_heads, hd}), {3, 0, 1, 4, 2, 5});      // [3, B, nW, heads, L, hd]
    Tensor bias = relative_position_bias();                                          // [heads, L, L]
    if (sh || sw) bias = add(bias, shift_mask(pH, pW, sh, sw, x.dtype(), x.device()));  // [nW, heads, L, L]
    const bool train = is_training();
    Tensor o = scaled_dot_product_attention(select(t, 0, 0), select(t, 0, 1), select(t, 0, 2), bias,
                                            train ? attention_dropout : 0.0);  // softmax(q·kᵀ/√hd + B)·v
    o = (*proj)(reshape(permute(o, {0, 1, 3, 2, 4}), {B * nW, L, C}));  // heads merged: [B·nW, L, C]
    o = lacoot::dropout(o, dropout, train);
    h = window_reverse(o, w, w, pH, pW);
    if (sh || sw) h = roll(h, {sh, sw}, {1, 2});
    return pad_b || pad_r ? slice(slice(h, 1, 0, H), 2, 0, W) : h;  // the padding cropped
  }

  // The shifted windows' mask [nW, 1, L, L]: after the roll, a window may hold tokens from up to
  // 4 regions that were not neighbours in the image; a pair from two regions gets −100 (e^−100
  // ≈ 0 after softmax). The regions are torchvision's: along an axis of padded size P shifted
  // by s the slices [0, P − w), [P − w, P − s), [P − s, P), labelled 3·(row slice) + (column
  // slice); an axis that is not shifted is one region, as torchvision's slices (0, −w), (−w, −0),
  // (−0, None) then leave all of it to the last.
  Tensor shift_mask(int64_t pH, int64_t pW, int64_t sh, int64_t sw, DType dtype, Device device) const {
    const int64_t w = window_size, L = w * w, cols = pW / w, nW = (pH / w) * cols;
    auto region = [w](int64_t pos, int64_t P, int64_t s) { return s == 0 ? 2 : pos < P - w ? 0 : pos < P - s ? 1 : 2; };
    auto label = [&](int64_t win, int64_t t) {  // token t of window win, in the shifted map
      const int64_t r = (win / cols) * w + t / w, c = (win % cols) * w + t % w;
      return 3 * region(r, pH, sh) + region(c, pW, sw);
    };
    Tensor mask = Tensor::empty({nW, 1, L, L}, kFloat64);
    double* m = mask.data<double>();
    for (int64_t win = 0; win < nW; ++win)
      for (int64_t i = 0; i < L; ++i)
        for (int64_t j = 0; j < L; ++j) m[(win * L + i) * L + j] = label(win, i) == label(win, j) ? 0.0 : -100.0;
    return mask.to(dtype).to(device);
  }

  const int64_t window_size, shift_size, num_heads;
  const double attention_dropout, dropout;
  std::shared_ptr<Linear> qkv, proj;
  Tensor relative_position_bias_table, relative_position_index;
};

// x = x + SD(attn(norm1(x))); x = x + SD(mlp(norm2(x))), with SD stochastic depth (mode "row")
// and mlp = [Linear(C, 4C), GELU, Dropout, Linear(4C, C), Dropout] (children 0 .. 4).
//   x [B, H, W, C] → [B, H, W, C]
class SwinTransformerBlock : public Module {
 public:
  SwinTransformerBlock(int64_t dim, int64_t num_heads, int64_t window_size, int64_t shift_size, double mlp_ratio = 4.0,
                       double dropout = 0.0, double attention_dropout = 0.0, double stochastic_depth_prob = 0.0)
      : Module("SwinTransformerBlock") {
    const auto hidden = static_cast<int64_t>(static_cast<double>(dim) * mlp_ratio);  // Python's int(), a floor
    norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{dim}, 1e-5));
    attn = register_module("attn", std::make_shared<ShiftedWindowAttention>(dim, window_size, shift_size, num_heads,
                                                                            attention_dropout, dropout));
    stochastic_depth = register_module("stochastic_depth", std::make_shared<StochasticDepth>(stochastic_depth_prob, "row"));
    norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{dim}, 1e-5));
    mlp = register_module("mlp", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Linear>(dim, hidden), std::make_shared<GELU>(), std::make_shared<Dropout>(dropout),
        std::make_shared<Linear>(hidden, dim), std::make_shared<Dropout>(dropout)}));
  }
  Tensor forward(const Tensor& x) override {
    // One StochasticDepth module for both branches, as torchvision: each call draws afresh.
    Tensor h = x + (*stochastic_depth)((*attn)((*norm1)(x)));
    return h + (*stochastic_depth)((*mlp)((*norm2)(h)));
  }
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<ShiftedWindowAttention> attn;
  std::shared_ptr<StochasticDepth> stochastic_depth;
  std::shared_ptr<Sequential> mlp;
};

// Halves H and W and doubles C: merge_patches (each 2×2 neighbourhood's four C-vectors
// concatenated, odd sizes zero-padded) → LayerNorm(4C) → Linear(4C, 2C, no bias).
//   x [B, H, W, C] → [B, ⌈H/2⌉, ⌈W/2⌉, 2C]
class PatchMerging : public Module {
 public:
  explicit PatchMerging(int64_t dim) : Module("PatchMerging") {
    reduction = register_module("reduction", std::make_shared<Linear>(4 * dim, 2 * dim, /*bias=*/false));
    norm = register_module("norm", std::make_shared<LayerNorm>(Shape{4 * dim}, 1e-5));
  }
  Tensor forward(const Tensor& x) override { return (*reduction)((*norm)(merge_patches(x))); }
  std::shared_ptr<Linear> reduction;
  std::shared_ptr<LayerNorm> norm;
};

// Which pair of tensors LaCoOT's regulariser compares for each block (see the header comment).
enum class SwinPair {
  block,       // the block's input and output (the default)
  mlp_branch,  // the block's input and mlp's output, before stochastic depth: the LaCoOT reference's
};

// torchvision's SwinTransformer arguments; the defaults are swin_t's. Windows and patches are square.
struct SwinTransformerOptions {
  int64_t num_classes = 1000;
  int64_t in_channels = 3;                       // torchvision: always 3
  int64_t patch_size = 4;                        // the stem conv's kernel and stride
  int64_t embed_dim = 96;                        // channels of stage 1; stage s has embed_dim · 2^s
  std::vector<int64_t> depths{2, 2, 6, 2};       // blocks per stage
  std::vector<int64_t> num_heads{3, 6, 12, 24};  // attention heads per stage
  int64_t window_size = 7;
  double mlp_ratio = 4.0;
  double dropout = 0.0;            // after proj and in the MLP (torchvision applies it in eval too; here in training only)
  double attention_dropout = 0.0;  // on the attention weights (likewise)
  // Block k of K (in forward order, over all stages) drops its branches with probability
  // stochastic_depth_prob · k / (K − 1): 0 for the first block, this for the last (0.2 for swin_t).
  double stochastic_depth_prob = 0.2;
  SwinPair pair = SwinPair::block;
};

class SwinTransformer : public Module {
 public:
  explicit SwinTransformer(const SwinTransformerOptions& o = {}) : Module("SwinTransformer"), options(o) {
    const std::size_t stages = o.depths.size();
    LACOOT_CHECK(stages > 0 && o.num_heads.size() == stages, "SwinTransformer: expected one head count per stage, got ",
                 stages, " depths and ", o.num_heads.size(), " head counts");
    LACOOT_CHECK(o.num_classes > 0 && o.in_channels > 0 && o.patch_size > 0 && o.embed_dim > 0 && o.mlp_ratio > 0,
                 "SwinTransformer: num_classes (", o.num_classes, "), in_channels (", o.in_channels, "), patch_size (",
                 o.patch_size, "), embed_dim (", o.embed_dim, ") and mlp_ratio (", o.mlp_ratio, ") must be positive");
    LACOOT_CHECK(o.stochastic_depth_prob >= 0 && o.stochastic_depth_prob <= 1,
                 "SwinTransformer: stochastic_depth_prob must be in [0, 1], got ", o.stochastic_depth_prob);
    int64_t total = 0;
    for (int64_t d : o.depths) {
      LACOOT_CHECK(d > 0, "SwinTransformer: every stage needs at least one block, got depths ", shape_str(o.depths));
      total += d;
    }
    features = register_module("features", std::make_shared<Sequential>());
    features->push_back(std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Conv2d>(o.in_channels, o.embed_dim, o.patch_size, Conv2dModuleOptions{.stride = o.patch_size}),
        std::make_shared<Permute>(std::vector<int64_t>{0, 2, 3, 1}), std::make_shared<LayerNorm>(Shape{o.embed_dim}, 1e-5)}));
    int64_t k = 0;  // the block's place in the whole network, for its stochastic depth
    for (std::size_t s = 0; s < stages; ++s) {
      const int64_t dim = o.embed_dim << s;
      auto stage = features->push_back(std::make_shared<Sequential>());
      for (int64_t j = 0; j < o.depths[s]; ++j, ++k) {
        // torchvision's linear schedule; a network of one block (0/0 in torchvision) gets 0.
        const double p = total > 1 ? o.stochastic_depth_prob * static_cast<double>(k) / static_cast<double>(total - 1) : 0.0;
        auto block = stage->push_back(std::make_shared<SwinTransformerBlock>(
            dim, o.num_heads[s], o.window_size, j % 2 == 0 ? 0 : o.window_size / 2, o.mlp_ratio, o.dropout,
            o.attention_dropout, p));
        block->mark_block(true, o.pair == SwinPair::mlp_branch ? "mlp" : "");
      }
      if (s + 1 < stages) features->push_back(std::make_shared<PatchMerging>(dim));
    }
    const int64_t num_features = o.embed_dim << (stages - 1);
    norm = register_module("norm", std::make_shared<LayerNorm>(Shape{num_features}, 1e-5));
    permute = register_module("permute", std::make_shared<Permute>(std::vector<int64_t>{0, 3, 1, 2}));
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    flatten = register_module("flatten", std::make_shared<Flatten>(1));
    head = register_module("head", std::make_shared<Linear>(num_features, o.num_classes));
    initialise();
  }

  Tensor forward(const Tensor& x) override {
    Tensor h = (*norm)((*features)(x));                  // [N, H', W', C']
    return (*head)((*flatten)((*avgpool)((*permute)(h))));  // global average pool, then the classifier
  }

  const SwinTransformerOptions options;
  std::shared_ptr<Sequential> features;
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Permute> permute;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Flatten> flatten;
  std::shared_ptr<Linear> head;

 private:
  // As torchvision: every Linear trunc_normal(std 0.02) with zero bias — this model-level pass
  // overwrites the blocks' own xavier init of their MLPs — and each bias table trunc_normal(0.02)
  // (done by ShiftedWindowAttention); the patch conv keeps nn.Conv2d's default, LayerNorm 1 and 0.
  void initialise() {
    for (auto& [path, m] : named_modules())
      if (auto* lin = dynamic_cast<Linear*>(m)) {
        init::trunc_normal_(lin->weight, 0, 0.02);
        if (lin->bias.defined()) init::zeros_(lin->bias);
      }
  }
};

// torchvision's swin_t (patch 4, embed 96, depths 2-2-6-2, heads 3-6-12-24, window 7, stochastic
// depth 0.2): 28,288,354 parameters for 1000 classes, 4.50 G MACs at 224 px (§4.2).
inline std::shared_ptr<SwinTransformer> swin_t(SwinTransformerOptions o = {}) { return std::make_shared<SwinTransformer>(o); }

}  // namespace lacoot::models
