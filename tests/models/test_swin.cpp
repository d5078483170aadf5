// Tests for models/swin.hpp.
//
// References: torchvision 0.14's swin_t (its state_dict keys, shapes and order) and small
// SwinTransformers filled with the deterministic weights of tests/models/reference.hpp, in
// tests/fixtures/swin_fixtures.hpp (gen_swin.py): eval and train logits, one input gradient and
// a projection of every parameter gradient; the counts and MACs of specs/architectures.md §4.2
// (by graph::trace, whose convention is §4.2's: see the MACs test); the relative position index,
// stochastic depth schedule and one block's MACs worked from §4.1; gradcheck; and the identity
// "collapse, then forward = skip the blocks".
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "../fixtures/swin_fixtures.hpp"
#include "reference.hpp"
#include "lacoot/graph/profile.hpp"
#include "lacoot/models/swin.hpp"
#include "lacoot/ops/loss.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

// The fixtures' small models (gen_swin.py's small_swin): patch 4, 10 classes, no stochastic depth.
models::SwinTransformerOptions small(int64_t embed_dim, std::vector<int64_t> depths, std::vector<int64_t> heads,
                                     int64_t window) {
  return {.num_classes = 10, .embed_dim = embed_dim, .depths = std::move(depths), .num_heads = std::move(heads),
          .window_size = window, .stochastic_depth_prob = 0.0};
}
models::SwinTransformerOptions small_w7() { return small(12, {2, 2}, {2, 4}, 7); }
models::SwinTransformerOptions small_w3() { return small(8, {2, 2, 2}, {1, 2, 4}, 3); }

int64_t count_buffers(nn::Module& m) {
  int64_t n = 0;
  for (auto& [name, b] : m.named_buffers()) n += b.numel();
  return n;
}

models::SwinTransformerBlock& block_at(models::SwinTransformer& m, const std::string& path) {
  return dynamic_cast<models::SwinTransformerBlock&>(*m.submodule(path));
}

}  // namespace

TEST_CASE("swin_t: torchvision's state_dict names, shapes and order; §4.2's parameter and buffer counts") {
  auto model = models::swin_t();
  check_keys<fixtures::swin::swin_t>(*model);
  CHECK(model->state_dict().size() == 185);
  CHECK(count_parameters(*model) == 28288354);
  CHECK(count_buffers(*model) == 28812);  // 12 relative_position_index buffers of 49² = 2,401
  for (auto& [name, b] : model->named_buffers()) CHECK(b.dtype() == kInt64);
  CHECK(count_parameters(*models::swin_t({.num_classes = 10})) == 27527044);
  CHECK(count_parameters(*models::swin_t({.num_classes = 200})) == 27673154);
}

TEST_CASE("swin_t: the relative position index, shifts and stochastic depth schedule of §4.1") {
  auto model = models::swin_t();
  auto& attn = *block_at(*model, "features.1.0").attn;
  // index[49·i + j] = (hi − hj + 6)·13 + (wi − wj + 6) for i = 7hi + wi, j = 7hj + wj.
  const std::vector<int64_t> index = ints_of(attn.relative_position_index);
  REQUIRE(index.size() == 2401);
  CHECK(index[0] == 84);        // i = j: offset (0, 0) is the table's centre, 6·13 + 6
  CHECK(index[1] == 83);        // j = (0, 1): wi − wj = −1
  CHECK(index[7] == 71);        // j = (1, 0): hi − hj = −1, one row of 13 down
  CHECK(index[48] == 0);        // j = (6, 6): (−6, −6)
  CHECK(index[49 * 48] == 168); // i = (6, 6), j = (0, 0): (6, 6), the last row
  CHECK(attn.relative_position_bias_table.shape() == Shape{169, 3});

  // Blocks k = 0..11 in forward order: shift 0, 3, 0, 3, ... within each stage, and stochastic
  // depth 0.2 · k / 11.
  int64_t k = 0;
  for (int s : {1, 3, 5, 7}) {
    auto& stage = dynamic_cast<nn::Sequential&>(*model->features->operator[](static_cast<std::size_t>(s)));
    for (std::size_t j = 0; j < stage.size(); ++j, ++k) {
      auto& b = dynamic_cast<models::SwinTransformerBlock&>(*stage[j]);
      CAPTURE(k);
      CHECK(b.attn->shift_size == (j % 2 == 0 ? 0 : 3));
      CHECK(b.stochastic_depth->p == doctest::Approx(0.2 * static_cast<double>(k) / 11.0).epsilon(1e-15));
      CHECK(b.stochastic_depth->mode == "row");
    }
  }
  CHECK(k == 12);
}

TEST_CASE("swin: the 12 blocks are removable; the compared pair is the block's, or the reference's MLP branch") {
  for (models::SwinPair pair : {models::SwinPair::block, models::SwinPair::mlp_branch}) {
    const bool reference = pair == models::SwinPair::mlp_branch;
    CAPTURE(reference);
    auto full = models::swin_t({.pair = pair});
    auto marked = nn::blocks(*full);
    REQUIRE(marked.size() == 12);
    CHECK(marked[0].first == "features.1.0");
    CHECK(marked[4].first == "features.5.0");
    CHECK(marked[11].first == "features.7.1");
    for (auto& [path, m] : marked) CHECK(m->compared_output() == (reference ? "mlp" : ""));

    // On a small model: what BlockPairHooks hands over is the input of norm1 and the output of
    // mlp (before stochastic depth), or the block's output.
    auto model = models::swin_t({.num_classes = 10, .embed_dim = 12, .depths = {2, 2}, .num_heads = {2, 4}, .pair = pair});
    model->train();  // stochastic depth on: the MLP branch's output is not the block's update
    auto& b = block_at(*model, "features.3.1");
    Tensor norm1_in, mlp_out, block_out;
    b.norm1->register_forward_hook([&](nn::Module&, const Tensor& in, const Tensor&) { norm1_in = in; });
    b.mlp->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) { mlp_out = out; });
    b.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) { block_out = out; });
    Tensor x, y;
    nn::BlockPairHooks hooks(*model, [&](std::size_t k, const Tensor& in, const Tensor& out) {
      if (k == 3) x = in, y = out;
    });
    CHECK(hooks.paths()[3] == "features.3.1");
    (*model)(randn({2, 3, 32, 32}));
    CHECK(x.is_same(norm1_in));
    CHECK(y.is_same(reference ? mlp_out : block_out));
    CHECK(y.shape() == x.shape());
  }
}

TEST_CASE("swin: logits and gradients equal torchvision's (float64), logits within 1e-4 in float32") {
  SUBCASE("window 7, 32x32: padding, the shifted mask, the shift forced to 0 in stage 2") {
    using Case = fixtures::swin::swin_w7_32;
    check_against_torchvision<Case>(*models::swin_t(small_w7()), kFloat64, 1e-9, 1e-9);
    check_against_torchvision<Case>(*models::swin_t(small_w7()), kFloat32, 1e-4, 0);
  }
  SUBCASE("window 7, 36x28: rows shifted, columns not; odd patch merging") {
    using Case = fixtures::swin::swin_w7_36x28;
    check_against_torchvision<Case>(*models::swin_t(small_w7()), kFloat64, 1e-9, 1e-9);
    check_against_torchvision<Case>(*models::swin_t(small_w7()), kFloat32, 1e-4, 0);
  }
  SUBCASE("window 3, three stages, 36x28, with the input gradient") {
    using Case = fixtures::swin::swin_w3_36x28;
    check_against_torchvision<Case>(*models::swin_t(small_w3()), kFloat64, 1e-9, 1e-9);
    check_against_torchvision<Case>(*models::swin_t(small_w3()), kFloat32, 1e-4, 0);
  }
  SUBCASE("swin_t itself (10 classes) at 32x32, the reference's CIFAR-10 setting; stochastic depth off in train mode") {
    using Case = fixtures::swin::swin_t_32;
    check_against_torchvision<Case>(*models::swin_t({.num_classes = 10, .stochastic_depth_prob = 0}), kFloat64, 1e-9, 0);
    check_against_torchvision<Case>(*models::swin_t({.num_classes = 10, .stochastic_depth_prob = 0}), kFloat32, 1e-4, 0);
  }
  SUBCASE("the fixture's weights load through load_state_dict, as torchvision's would") {
    auto filled = models::swin_t(small_w7());
    fill_state(*filled);
    auto fresh = models::swin_t(small_w7());
    fresh->load_state_dict(filled->state_dict());
    filled->eval();
    fresh->eval();
    Tensor x = randn({1, 3, 32, 32});
    CHECK(max_abs_diff((*fresh)(x), (*filled)(x)) == 0.0);
  }
}

TEST_CASE("swin: gradcheck of the input in train mode (float64, stochastic depth 0)") {
  // 12x12 → a 3x3 map: window 2 pads it to 4x4 and the second block shifts by 1 with the mask;
  // patch merging pads 3x3 to 4x4, and the 2x2 map of stage 2 is one window (no shift).
  auto model = models::swin_t({.num_classes = 3, .embed_dim = 4, .depths = {2, 2}, .num_heads = {1, 2},
                               .window_size = 2, .stochastic_depth_prob = 0.0});
  model->to(kFloat64);
  fill_state(*model);
  model->train();
  check_grad([&](const V& in) { return (*model)(in[0]); }, {randn({1, 3, 12, 12}, kFloat64)});
}

TEST_CASE("swin: stochastic depth in training — random per call, seeded, off in evaluation; backward runs") {
  auto model = models::swin_t({.num_classes = 10, .embed_dim = 12, .depths = {2, 2}, .num_heads = {2, 4},
                               .stochastic_depth_prob = 0.5});
  Tensor x = randn({8, 3, 32, 32});
  model->eval();
  Tensor e1 = (*model)(x), e2 = (*model)(x);
  CHECK(max_abs_diff(e1, e2) == 0.0);  // evaluation: deterministic

  // The same weights without stochastic depth give the same evaluation logits.
  auto plain = models::swin_t(small_w7());
  plain->load_state_dict(model->state_dict());
  plain->eval();
  CHECK(max_abs_diff((*plain)(x), e1) == 0.0);

  model->train();
  manual_seed(17);
  Tensor t1 = (*model)(x);
  Tensor t2 = (*model)(x);
  CHECK(max_abs_diff(t1, t2) > 1e-3);  // 8 samples, 4 blocks, 2 branches each: a branch is dropped
  CHECK(max_abs_diff(t1, e1) > 1e-3);
  manual_seed(17);
  CHECK(max_abs_diff((*model)(x), t1) == 0.0);  // the default generator's seed decides it

  // A backward pass through the training graph reaches every parameter.
  Tensor labels = from({0, 1, 2, 3, 4, 5, 6, 7}, {8}).to(kInt64);
  Tensor loss = cross_entropy(t1, labels);
  loss.backward();
  CHECK(std::isfinite(loss.item()));
  for (auto& [name, p] : model->named_parameters()) {
    CAPTURE(name);
    REQUIRE(p.grad().defined());
    CHECK(std::isfinite(sum(abs(p.grad())).item()));
  }
  CHECK(sum(abs(block_at(*model, "features.1.1").attn->relative_position_bias_table.grad())).item() > 0);
}

TEST_CASE("swin: argument errors name the fix") {
  CHECK_THROWS_WITH_AS(models::swin_t({.depths = {2, 2}}), doctest::Contains("one head count per stage"), Error);
  CHECK_THROWS_WITH_AS(models::swin_t({.embed_dim = 10}), doctest::Contains("divisible by num_heads"), Error);
  auto model = models::swin_t(small_w7());
  CHECK_THROWS_WITH_AS((*block_at(*model, "features.1.0").attn)(randn({1, 8, 8, 5})),
                       doctest::Contains("channels last"), Error);
}

// ---- MACs and collapse (graph/) ----

namespace {

// The MACs of a trace's conv2d and linear ops (bias included) and of its matmuls.
std::pair<int64_t, int64_t> weight_and_attention_macs(const graph::Graph& g) {
  int64_t weights = 0, attention = 0;
  for (const graph::Op& op : g.ops) (op.name == "matmul" ? attention : weights) += graph::macs(op);
  return {weights, attention};
}

// The dense model's forward with the blocks at `skipped` left out, written out by hand.
Tensor forward_skipping(models::SwinTransformer& m, const Tensor& x, const std::vector<std::string>& skipped) {
  Tensor h = (*(*m.features)[0])(x);  // the stem
  for (std::size_t i = 1; i < m.features->size(); ++i) {
    auto* stage = dynamic_cast<nn::Sequential*>((*m.features)[i].get());
    if (!stage) {  // PatchMerging
      h = (*(*m.features)[i])(h);
      continue;
    }
    for (std::size_t j = 0; j < stage->size(); ++j)
      if (std::find(skipped.begin(), skipped.end(), "features." + std::to_string(i) + "." + std::to_string(j)) ==
          skipped.end())
        h = (*(*stage)[j])(h);
  }
  return (*m.head)((*m.flatten)((*m.avgpool)((*m.permute)((*m.norm)(h)))));
}

}  // namespace

TEST_CASE("swin_t MACs by tracing equal §4.2's: 4,503,738,856 at 224 px / 1000 classes, 519,087,370 at 32 / 10") {
  // The convention is graph/analysis.hpp's, which is §4.2's: conv2d and linear multiply-
  // accumulates with a bias adding 1 per output (qkv and proj run on the zero-padded windows, so
  // their padded tokens count), plus attention's q·kᵀ and weights·v, a matmul [.., M, K]·[.., K, N]
  // costing numel(output)·K. LayerNorm, softmax, GELU and the additions count nothing.
  struct Row {
    int64_t size, classes, weights, attention, total;
  };
  for (const Row& r : {Row{224, 1000, 4363597288, 140141568, 4503738856}, Row{64, 200, 738918344, 34113408, 773031752},
                       Row{32, 10, 495115786, 23971584, 519087370}}) {
    CAPTURE(r.size);
    auto model = models::swin_t({.num_classes = r.classes});
    const graph::Graph g = graph::trace(*model, {3, r.size, r.size});
    const auto [weights, attention] = weight_and_attention_macs(g);
    CHECK(weights == r.weights);
    CHECK(attention == r.attention);
    CHECK(graph::macs(g) == r.total);
    CHECK(graph::params(g) == count_parameters(*model));
    CHECK(g.unused_parameters.empty());
    // CPL: the stem conv, 4 linears per block (qkv, proj, mlp.0, mlp.3), 3 reductions, the head.
    CHECK(graph::cpl(g) == 1 + 12 * 4 + 3 + 1);
    CHECK(g.blocks.size() == 12);
  }
  CHECK(graph::human(4503738856) == "4.50 G");  // the paper's "4.5 G" (METHOD.md §6)
}

TEST_CASE("swin_t at 32 px: removing features.1.1 saves the 13,893,888 MACs of one stage-1 block, CPL -4") {
  // Stage 1 at 32 px: an 8x8 map of C = 96, padded to 14x14 = 196 tokens for attention.
  //   qkv 196 · (96 · 288 + 288) = 5,475,456     proj 196 · (96 · 96 + 96) = 1,825,152
  //   mlp.0 64 · (96 · 384 + 384) = 2,383,872    mlp.3 64 · (384 · 96 + 96) = 2,365,440
  //   attention 2 · 196 tokens · 49 keys · 96 = 1,843,968                     sum 13,893,888
  auto model = models::swin_t({.num_classes = 10});
  const graph::Profile p = graph::profile(*model, {3, 32, 32}, {"features.1.1"});
  CHECK(p.macs == 519087370 - 13893888);
  CHECK(p.cpl == 53 - 4);
  CHECK(p.removable.size() == 11);
  CHECK(p.params == 27527044 - 112347);  // norm1 192, table 169 · 3, qkv 27,936, proj 9,312, norm2 192, mlp 74,208
}

TEST_CASE("swin: collapse, then forward = the forward that skips the blocks; collapse(trace) = trace(collapse)") {
  const std::vector<std::string> removed{"features.1.1", "features.3.0"};
  for (models::SwinPair pair : {models::SwinPair::block, models::SwinPair::mlp_branch}) {
    models::SwinTransformerOptions o = small_w7();
    o.pair = pair;
    auto model = models::swin_t(o), reference = models::swin_t(o);
    fill_state(*model);
    reference->load_state_dict(model->state_dict());
    model->eval();
    reference->eval();
    const graph::Graph dense = graph::trace(*reference, {3, 36, 28});
    graph::collapse_model(*model, removed);
    CHECK(nn::blocks(*model).size() == 2);
    for (const Shape& shape : {Shape{2, 3, 32, 32}, Shape{2, 3, 36, 28}}) {
      Tensor x = randn(shape);
      CHECK(max_abs_diff((*model)(x), forward_skipping(*reference, x, removed)) == 0.0);
    }
    const graph::Graph collapsed = graph::collapse(dense, removed), retraced = graph::trace(*model, {3, 36, 28});
    CHECK(graph::macs(collapsed) == graph::macs(retraced));
    CHECK(graph::params(collapsed) == graph::params(retraced));
    CHECK(graph::cpl(collapsed) == graph::cpl(retraced));
    CHECK(graph::cpl(collapsed) == graph::cpl(dense) - 8);
    CHECK(collapsed.blocks == retraced.blocks);
    // The dense weights load with strict = false; the removed blocks' 14 entries each are unexpected.
    nn::LoadResult r = model->load_state_dict(reference->state_dict(), /*strict=*/false);
    CHECK(r.missing_keys.empty());
    CHECK(r.unexpected_keys.size() == 2 * 14);
  }
}
