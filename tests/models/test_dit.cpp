// Tests of lacoot/models/dit.hpp against a PyTorch DiT (tests/fixtures/gen_dit.py, written from
// specs/architectures.md §5), the parameter counts of the spec, adaLN-Zero, class dropout and a
// gradcheck through a whole (tiny) DiT.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "../fixtures/dit_fixtures.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/graph/profile.hpp"
#include "lacoot/models/dit.hpp"
#include "lacoot/nn/block.hpp"
#include "reference.hpp"

using namespace lacoot;
using namespace lacoot::test;
using Case = fixtures::dit::dit_small;

namespace {

models::DiTOptions small_options() {
  const auto& c = Case::config;  // input_size, patch_size, in_channels, hidden, depth, heads, num_classes
  return {.input_size = c[0], .patch_size = c[1], .in_channels = c[2], .hidden_size = c[3], .depth = c[4],
          .num_heads = c[5], .class_dropout_prob = 0.1, .num_classes = c[6]};
}

int64_t count(nn::Module& m, bool trainable_only) {
  int64_t n = 0;
  for (auto& [name, p] : m.named_parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace

TEST_CASE("DiT equals the PyTorch reference: keys, position embedding, output, input gradient, dropped labels, guidance") {
  auto model = models::dit(small_options());
  // The fixed position embedding, before the fill overwrites it (it is in the state_dict).
  check_close(model->pos_embed, Case::pos_embed, 1e-7);  // stored as float32
  check_keys<Case>(*model);
  model->to(kFloat64);
  fill_state(*model);
  model->eval();
  const Shape shape(Case::input_shape.begin(), Case::input_shape.end());
  Tensor x = (alias_with_shape(hash_uniform(numel(shape), 1000), shape) * 4.0).detach();
  Tensor t = from(Case::t, {2}), y = tensor(Case::y, {2});
  x.requires_grad_();
  Tensor out = (*model)(x, t, y);
  REQUIRE(out.shape() == Shape{2, 2 * Case::config[2], Case::config[0], Case::config[0]});
  check_close(out, Case::eval_out, 1e-10);
  sum(out * alias_with_shape(hash_uniform(out.numel(), 1001), out.shape())).backward();
  check_close(x.grad(), Case::input_grad, 1e-10);
  NoGradGuard no_grad;
  check_close((*model)(x, t, y, tensor(std::vector<int64_t>{0, 1}, {2})), Case::dropped_out, 1e-10);
  Tensor y_cfg = tensor(std::vector<int64_t>{Case::y[0], Case::config[6]}, {2});
  check_close(model->forward_with_cfg(x, t, y_cfg, 4.0), Case::cfg_out, 1e-10);
  // Called like any module, without timesteps and labels, it says what it needs.
  nn::Module& plain = *model;
  CHECK_THROWS_WITH_AS(plain(x), doctest::Contains("dit(x, t, y)"), Error);
}

TEST_CASE("DiT: the position embedding's layout (the column first, sin before cos)") {
  // specs/architectures.md §5.2: D = 8, grid 2, token 1 = (row 0, column 1) has sin(1) in dim 0.
  Tensor p = models::get_2d_sincos_pos_embed(8, 2);
  CHECK(p.at<double>({1, 0}) == doctest::Approx(std::sin(1.0)));
  CHECK(p.at<double>({1, 2}) == doctest::Approx(std::cos(1.0)));
  CHECK(p.at<double>({1, 4}) == 0.0);  // the row half: sin(0)
  CHECK(p.at<double>({2, 4}) == doctest::Approx(std::sin(1.0)));  // token 2 = (row 1, column 0)
  CHECK_THROWS_WITH_AS(models::get_2d_sincos_pos_embed(6, 2), doctest::Contains("multiple of 4"), Error);
}

TEST_CASE("DiT configurations: DiT-S/2's parameters and state_dict as the spec counts them") {
  // specs/architectures.md §5.1, latents 32x32 (256-pixel images): 32,963,360 parameters, of which
  // 32,865,056 are trained (pos_embed is fixed); 12 + 10 · depth state_dict entries.
  auto s2 = models::dit(models::dit_config("dit-s2"));
  CHECK(count(*s2, false) == 32'963'360);
  CHECK(count(*s2, true) == 32'865'056);
  CHECK(s2->state_dict().size() == 132);
  CHECK(nn::blocks(*s2).size() == 12);
  const models::DiTOptions xl = models::dit_xl2();
  CHECK((xl.hidden_size == 1152 && xl.depth == 28 && xl.num_heads == 16 && xl.patch_size == 2));
  CHECK_THROWS_WITH_AS(models::dit_config("dit-xl4"), doctest::Contains("unknown configuration"), Error);
}

// The MACs of one latent (conv, linear and attention's two matmuls, a bias counting one per
// output), written out from the layers for any configuration: patch embedding, the timestep MLP,
// per block the adaLN linear (once per image) and per token qkv, proj, fc1, fc2 (12D² + 9D) plus
// attention's 2T²D, the final adaLN and the final linear to p²·2C values per token.
int64_t dit_macs(const models::DiTOptions& o) {
  const int64_t D = o.hidden_size, p = o.patch_size, C = o.in_channels, T = (o.input_size / p) * (o.input_size / p);
  const int64_t out = p * p * 2 * C;
  return T * (C * p * p * D + D) + (256 * D + D + D * D + D) +
         o.depth * (6 * D * D + 6 * D + T * (12 * D * D + 9 * D) + 2 * T * T * D) + (2 * D * D + 2 * D) +
         T * (out * D + out);
}

TEST_CASE("DiT's MACs by the tracer: spec 5.1's DiT-S/2, any configuration, and with blocks removed") {
  // specs/architectures.md §5.1: DiT-S/2 at 32x32 latents, 5,462,446,592 conv + linear and
  // 603,979,776 attention multiply-adds; every parameter is read (pos_embed and the label table too).
  auto s2 = models::dit(models::dit_config("dit-s2"));
  graph::Profile p = graph::profile(*s2, {4, 32, 32});
  CHECK(p.macs == 5'462'446'592 + 603'979'776);
  CHECK(p.macs == dit_macs(s2->options));
  CHECK(p.params == 32'963'360);
  CHECK(p.removable.size() == 12);
  // Another patch, size, channel count and depth: the tracer agrees with the layers' sum.
  const models::DiTOptions o{.input_size = 12, .patch_size = 3, .in_channels = 2, .hidden_size = 24, .depth = 3,
                             .num_heads = 2, .num_classes = 7};
  auto small = models::dit(o);
  CHECK(graph::profile(*small, {2, 12, 12}).macs == dit_macs(o));
  // Two blocks removed: each took 6D² + 6D + T(12D² + 9D) + 2T²D.
  const int64_t D = 24, T = 16, block = 6 * D * D + 6 * D + T * (12 * D * D + 9 * D) + 2 * T * T * D;
  graph::Profile collapsed = graph::profile(*small, {2, 12, 12}, {"blocks.0", "blocks.2"});
  CHECK(collapsed.macs == dit_macs(o) - 2 * block);
  CHECK(collapsed.removable == std::vector<std::string>{"blocks.1"});
}

TEST_CASE("DiT: adaLN-Zero starts every block as the identity and the output at zero; class dropout") {
  manual_seed(3);
  auto model = models::dit(small_options());
  model->eval();
  Tensor x = randn({2, 3, 8, 8}), t = tensor({10.0, 20.0}), y = tensor(std::vector<int64_t>{0, 2}, {2});
  NoGradGuard no_grad;
  CHECK(max_abs_diff((*model)(x, t, y), zeros({2, 6, 8, 8})) == 0.0);
  // A block at initialisation returns its input unchanged (its gates are zero).
  auto block = std::dynamic_pointer_cast<models::DiTBlock>((*model->blocks)[0]);
  Tensor tokens = randn({2, 16, 32});
  block->condition = randn({2, 32});
  CHECK(max_abs_diff((*block)(tokens), tokens) == 0.0);
  // In training a label becomes the null class with probability 0.1; in evaluation never.
  models::LabelEmbedder& labels = *model->y_embedder;
  const int64_t n = 20000;
  Tensor many = zeros({n}, kInt64);
  Tensor null_row = select(labels.embedding_table->weight, 0, 5);
  auto null_share = [&] {
    Tensor e = labels.embed(many);
    int64_t hits = 0;
    for (int64_t i = 0; i < n; ++i) hits += max_abs_diff(select(e, 0, i), null_row) == 0.0;
    return static_cast<double>(hits) / n;
  };
  CHECK(null_share() == 0.0);
  labels.train();
  const double share = null_share();
  CHECK(share > 0.09);
  CHECK(share < 0.11);
}

TEST_CASE("gradcheck: through a whole tiny DiT to its input, float64") {
  manual_seed(5);
  auto model = models::dit({.input_size = 4, .patch_size = 2, .in_channels = 2, .hidden_size = 8, .depth = 1,
                            .num_heads = 2, .class_dropout_prob = 0.0, .num_classes = 3});
  model->to(kFloat64);
  fill_state(*model);
  model->eval();
  Tensor t = tensor({5.0, 300.0}).to(kFloat64), y = tensor(std::vector<int64_t>{2, 0}, {2});
  auto r = gradcheck([&](const std::vector<Tensor>& v) { return (*model)(v[0], t, y); }, {randn({2, 2, 4, 4}, kFloat64)});
  CHECK_MESSAGE(r.ok, r.report);
}
