// lacoot/ops/transformer.hpp — the ops of the transformer models: attention, windows, patch
// merging, the diffusion timestep embedding and adaLN modulation.
//
// Holds: scaled_dot_product_attention (torch.nn.functional's, PyTorch 2.x arguments),
// window_partition / window_reverse and merge_patches (Swin Transformer, as torchvision's
// shifted_window_attention and _patch_merging_pad do them), timestep_embedding and modulate
// (DiT, as facebookresearch/DiT's models.py).
// Needs: ops/elementwise.hpp, ops/matmul.hpp, ops/softmax.hpp, ops/shape.hpp, ops/dropout.hpp.
// Leaves out: fused attention kernels (FlashAttention's tiling): attention here is three ops,
// so its [.., L, S] score matrix is materialised, and enable_gqa.
//
// Every op is composed of differentiable lacoot ops, so its backward is theirs (autograd), on
// the CPU and on a GPU alike.
#pragma once

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "dropout.hpp"
#include "elementwise.hpp"
#include "matmul.hpp"
#include "shape.hpp"
#include "softmax.hpp"

namespace lacoot {

// ---- attention ----

// softmax(q · kᵀ · scale + mask) · v (torch.nn.functional.scaled_dot_product_attention):
//   query [..., L, E], key [..., S, E], value [..., S, Ev] -> [..., L, Ev], the leading
//   ("batch", "head") dimensions broadcast as in matmul;
//   attn_mask, broadcastable to [..., L, S]: floating, it is added to the scores (an additive
//   mask, or a bias such as Swin's relative position bias); int64, as PyTorch's bool mask, a
//   position takes part where it is non-zero and gets −inf where it is 0 (a row with no position
//   left gives NaN, as in PyTorch);
//   is_causal: position i attends to j ≤ i (the mask's top-left-aligned lower triangle; no
//   attn_mask then); dropout_p: dropout on the attention weights (pass 0 in evaluation, as
//   PyTorch's callers do); scale: 1/√E unless given.
inline Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                           const Tensor& attn_mask = {}, double dropout_p = 0.0,
                                           bool is_causal = false, std::optional<double> scale = std::nullopt) {
  const char* op = "scaled_dot_product_attention";
  detail::check_same(op, {query, key, value}, detail::Cuda::kernel);
  LACOOT_CHECK(query.dim() >= 2 && key.dim() >= 2 && value.dim() >= 2, op, ": query, key and value need "
               "at least 2 dimensions ([..., L, E], [..., S, E], [..., S, Ev]), got shapes ", shape_str(query.shape()),
               ", ", shape_str(key.shape()), ", ", shape_str(value.shape()));
  const int64_t L = query.size(-2), E = query.size(-1);
  const int64_t S = key.size(-2);
  LACOOT_CHECK(key.size(-1) == E, op, ": query has ", E, " features per position, key ", key.size(-1),
               " (shapes ", shape_str(query.shape()), " and ", shape_str(key.shape()), ")");
  LACOOT_CHECK(value.size(-2) == S, op, ": key has ", S, " positions, value ", value.size(-2), " (shapes ",
               shape_str(key.shape()), " and ", shape_str(value.shape()), ")");
  LACOOT_CHECK(!(is_causal && attn_mask.defined()), op, ": give attn_mask or is_causal, not both");
  LACOOT_CHECK(dropout_p >= 0 && dropout_p < 1, op, ": dropout_p must be in [0, 1), got ", dropout_p);
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));

  Tensor scores = mul(matmul(query, transpose(key, -2, -1)), s);  // [..., L, S]
  Tensor keep;  // a mask of where positions take part, or undefined
  if (attn_mask.defined()) {
    LACOOT_CHECK(attn_mask.device() == query.device(), op, ": attn_mask is on ", attn_mask.device().str(),
                 ", the query on ", query.device().str());
    if (is_floating(attn_mask.dtype())) {
      LACOOT_CHECK(attn_mask.dtype() == query.dtype(), op, ": a floating attn_mask must have the query's dtype (",
                   dtype_name(query.dtype()), "), got ", dtype_name(attn_mask.dtype()));
      scores = add(scores, attn_mask);
    } else {
      keep = attn_mask;
    }
  } else if (is_causal) {
    Tensor tri = Tensor::empty({L, S}, kInt64);
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j < S; ++j) tri.data<int64_t>()[i * S + j] = j <= i;
    keep = tri.to(query.device());
  }
  if (keep.defined())
    scores = where(keep, scores, full({}, -std::numeric_limits<double>::infinity(), query.dtype(), query.device()));
  Tensor weights = softmax(scores, -1);
  if (dropout_p > 0) weights = dropout(weights, dropout_p, /*training=*/true);
  return matmul(weights, value);
}

// ---- Swin Transformer's windows ----

// x [B, H, W, C] cut into non-overlapping windows of wh × ww positions: [B · nW, wh · ww, C],
// window (b, i, j) at row (b · H/wh + i) · W/ww + j, its positions in row-major order (as
// torchvision's shifted_window_attention). H and W must be multiples of the window (torchvision
// pads them first: see pad).
inline Tensor window_partition(const Tensor& x, int64_t wh, int64_t ww) {
  LACOOT_CHECK(x.dim() == 4, "window_partition: expected x of shape [B, H, W, C], got ", shape_str(x.shape()));
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  LACOOT_CHECK(wh > 0 && ww > 0 && H % wh == 0 && W % ww == 0, "window_partition: a ", H, "x", W,
               " map does not divide into ", wh, "x", ww, " windows (pad it to multiples first)");
  Tensor t = reshape(x, {B, H / wh, wh, W / ww, ww, C});
  return reshape(permute(t, {0, 1, 3, 2, 4, 5}), {B * (H / wh) * (W / ww), wh * ww, C});
}

// The inverse of window_partition: windows [B · nW, wh · ww, C] back to [B, H, W, C].
inline Tensor window_reverse(const Tensor& windows, int64_t wh, int64_t ww, int64_t H, int64_t W) {
  LACOOT_CHECK(windows.dim() == 3 && wh > 0 && ww > 0 && H % wh == 0 && W % ww == 0 &&
                   windows.size(1) == wh * ww && windows.size(0) % ((H / wh) * (W / ww)) == 0,
               "window_reverse: windows of shape ", shape_str(windows.shape()), " are not ", wh, "x", ww,
               " windows of ", H, "x", W, " maps");
  const int64_t C = windows.size(2), B = windows.size(0) / ((H / wh) * (W / ww));
  Tensor t = reshape(windows, {B, H / wh, W / ww, wh, ww, C});
  return reshape(permute(t, {0, 1, 3, 2, 4, 5}), {B, H, W, C});
}

// Swin's patch merging before its linear layer: x [..., H, W, C] -> [..., ⌈H/2⌉, ⌈W/2⌉, 4C], each
// 2×2 neighbourhood's four vectors concatenated in the order (0, 0), (1, 0), (0, 1), (1, 1) —
// rows first, as torchvision's _patch_merging_pad — after zero-padding H and W to even sizes.
inline Tensor merge_patches(const Tensor& x) {
  LACOOT_CHECK(x.dim() >= 3, "merge_patches: expected x of shape [..., H, W, C], got ", shape_str(x.shape()));
  const int64_t H = x.size(-3), W = x.size(-2);
  Tensor p = (H % 2 || W % 2) ? pad(x, {0, 0, 0, W % 2, 0, H % 2}) : x;
  auto take = [&](int64_t row, int64_t col) {
    return slice(slice(p, -3, row, std::nullopt, 2), -2, col, std::nullopt, 2);
  };
  return cat({take(0, 0), take(1, 0), take(0, 1), take(1, 1)}, -1);
}

// ---- DiT ----

// The sinusoidal embedding of diffusion timesteps t [N] (DiT's TimestepEmbedder.timestep_embedding,
// after the transformer's positional encoding): [N, dim] = [cos(t · f_k), sin(t · f_k)] for the
// half = dim / 2 frequencies f_k = max_period^(−k / half), k = 0 .. half − 1, cosines first, and a
// zero column when dim is odd. t may be fractional; the gradient flows to it.
inline Tensor timestep_embedding(const Tensor& t, int64_t dim, double max_period = 10000.0) {
  LACOOT_CHECK(t.dim() == 1 && is_floating(t.dtype()), "timestep_embedding: expected t of shape [N], floating "
               "point, got shape ", shape_str(t.shape()), " (", dtype_name(t.dtype()), "; hint: convert integer "
               "timesteps with .to(lacoot::kFloat32))");
  LACOOT_CHECK(dim >= 1, "timestep_embedding: dim must be positive, got ", dim);
  const int64_t half = dim / 2;
  Tensor freqs = Tensor::empty({1, half}, kFloat64);
  for (int64_t k = 0; k < half; ++k)
    freqs.data<double>()[k] = std::exp(-std::log(max_period) * static_cast<double>(k) / static_cast<double>(half));
  Tensor args = mul(unsqueeze(t, 1), freqs.to(t.dtype()).to(t.device()));  // [N, half]
  std::vector<Tensor> parts{cos(args), sin(args)};
  if (dim % 2) parts.push_back(zeros({t.size(0), 1}, t.dtype(), t.device()));
  return cat(parts, 1);
}

// adaLN modulation (DiT's modulate): x [N, T, D] · (1 + scale) + shift, with shift and scale
// [N, D] (one per sample, from the conditioning) broadcast over the T tokens.
inline Tensor modulate(const Tensor& x, const Tensor& shift, const Tensor& scale) {
  LACOOT_CHECK(x.dim() == 3 && shift.dim() == 2 && scale.dim() == 2 && shift.size(0) == x.size(0) &&
                   scale.size(0) == x.size(0) && shift.size(1) == x.size(2) && scale.size(1) == x.size(2),
               "modulate: expected x [N, T, D] with shift and scale [N, D], got shapes ", shape_str(x.shape()), ", ",
               shape_str(shift.shape()), ", ", shape_str(scale.shape()));
  return add(mul(x, add(unsqueeze(scale, 1), 1.0)), unsqueeze(shift, 1));
}

}  // namespace lacoot
