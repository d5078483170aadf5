// Tests of lacoot/ops/shape.hpp and lacoot/ops/index.hpp.
//
// References: tiny cases worked by hand (in the comments), PyTorch 1.13 results in
// tests/fixtures/shape_fixtures.hpp (written by tests/fixtures/gen_shape.py from inputs
// x_of(shape)[i] = ((i * 37) % 101) / 10 - 5, rebuilt here), a naive index-by-index permute for
// the tiled transpose kernel, and finite differences (gradcheck) for every backward.
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "../fixtures/shape_fixtures.hpp"
#include "../check.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/elementwise.hpp"
#include "lacoot/ops/index.hpp"
#include "lacoot/ops/shape.hpp"

using namespace lacoot;
using namespace lacoot::test;
using Inputs = std::vector<Tensor>;

namespace {

// The fixtures' input formula.
Tensor x_of(const Shape& shape, DType dtype = kFloat64) {
  Tensor t = Tensor::empty(shape, kFloat64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<double>((i * 37) % 101) / 10.0 - 5.0;
  return dtype == kFloat64 ? t : t.to(dtype);
}

Tensor index_of(std::vector<int64_t> v, Shape shape) { return tensor(v, std::move(shape)); }
Tensor index_of(std::vector<int64_t> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return tensor(v, s);
}

// The op only copies, so its result must equal PyTorch's exactly (same formula, same IEEE ops).
void check_fixture(const Tensor& t, const std::vector<int64_t>& shape, const std::vector<double>& expected) {
  REQUIRE(t.shape() == shape);
  CHECK(values_of(t) == expected);
}

// out[j] = x[i] where j is i's multi-index permuted: the definition, one element at a time.
Tensor naive_permute(const Tensor& x, const std::vector<int64_t>& dims) {
  Shape out_shape;
  for (int64_t d : dims) out_shape.push_back(x.shape()[static_cast<std::size_t>(d)]);
  Tensor out = Tensor::empty(out_shape, kFloat64);
  const std::vector<double> xs = values_of(x);
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  for (int64_t j = 0; j < out.numel(); ++j) {
    int64_t rem = j, src = 0;
    for (std::size_t k = dims.size(); k-- > 0;) {
      src += (rem % out_shape[k]) * in_strides[static_cast<std::size_t>(dims[k])];
      rem /= out_shape[k];
    }
    out.data<double>()[j] = xs[static_cast<std::size_t>(src)];
  }
  return out;
}

}  // namespace

// ---- views ----

TEST_CASE("reshape and view: one -1 inferred, storage shared, int64 kept") {
  Tensor x = arange(12, kInt64);
  Tensor y = reshape(x, {3, -1});  // 12 elements in 3 rows: the -1 is 4
  CHECK(y.shape() == Shape{3, 4});
  CHECK(y.data<int64_t>() == x.data<int64_t>());  // a view of the same storage
  CHECK(y.at<int64_t>({2, 1}) == 9);              // row-major: 2 * 4 + 1
  CHECK(view(x, {2, 2, 3}).at<int64_t>({1, 0, 2}) == 8);
  CHECK(reshape(zeros({0, 3}), {-1, 3}).shape() == Shape{0, 3});
  CHECK(reshape(full({}, 7.0), {1, 1}).shape() == Shape{1, 1});

  CHECK_THROWS_WITH_AS(reshape(x, {-1, -1}), doctest::Contains("only one dimension can be inferred"), Error);
  CHECK_THROWS_WITH_AS(reshape(x, {5, -1}), doctest::Contains("not a multiple of 5"), Error);
  CHECK_THROWS_AS(reshape(x, {5, 3}), Error);
  CHECK_THROWS_AS(reshape(x, {-2, -6}), Error);
  CHECK_THROWS_AS(view(zeros({0, 3}), {0, -1}), Error);  // the -1 could be anything

  Generator gen(1);
  auto r = gradcheck([](const Inputs& v) { return reshape(v[0], {4, -1}); }, {randn({2, 6}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([](const Inputs& v) { return view(v[0], {3, 2, 2}) * view(v[0], {3, 2, 2}); },
                {randn({2, 6}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("flatten, squeeze, unsqueeze: shapes as in PyTorch, fixture values, gradients") {
  Tensor x = x_of({2, 3, 4, 5});
  check_fixture(flatten(x, 1, 2), shape_fixtures::flatten_12_shape, shape_fixtures::flatten_12);
  CHECK(flatten(x).shape() == Shape{120});
  CHECK(flatten(x, 1).shape() == Shape{2, 60});
  CHECK(flatten(x, -2, -1).shape() == Shape{2, 3, 20});
  CHECK(flatten(full({}, 1.0)).shape() == Shape{1});
  CHECK_THROWS_WITH_AS(flatten(x, 2, 1), doctest::Contains("cannot come after"), Error);
  CHECK_THROWS_AS(flatten(x, 4), Error);

  Tensor y = zeros({3, 1, 2, 1});
  CHECK(squeeze(y).shape() == Shape{3, 2});
  CHECK(squeeze(y, 1).shape() == Shape{3, 2, 1});
  CHECK(squeeze(y, -1).shape() == Shape{3, 1, 2});
  CHECK(squeeze(y, 0).shape() == Shape{3, 1, 2, 1});  // size 3: unchanged, as torch.squeeze
  CHECK(unsqueeze(y, 0).shape() == Shape{1, 3, 1, 2, 1});
  CHECK(unsqueeze(y, -1).shape() == Shape{3, 1, 2, 1, 1});
  CHECK(unsqueeze(y, 4).shape() == Shape{3, 1, 2, 1, 1});
  CHECK_THROWS_AS(unsqueeze(y, 5), Error);
  CHECK_THROWS_AS(squeeze(y, 4), Error);

  Generator gen(2);
  auto r = gradcheck([](const Inputs& v) { return unsqueeze(squeeze(flatten(v[0], 0, 1), 1), -1); },
                     {randn({2, 3, 1}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

// ---- permute, transpose, expand ----

TEST_CASE("permute and transpose: hand case, PyTorch fixtures, errors") {
  // [[0, 1, 2], [3, 4, 5]] transposed is [[0, 3], [1, 4], [2, 5]].
  Tensor t = transpose(reshape(arange(6, kFloat64), {2, 3}), 0, 1);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(values_of(t) == std::vector<double>{0, 3, 1, 4, 2, 5});

  Tensor x = x_of({2, 3, 4, 5});
  check_fixture(permute(x, {2, 0, 3, 1}), shape_fixtures::permute_2031_shape, shape_fixtures::permute_2031);
  check_fixture(permute(x, {-2, 0, -1, 1}), shape_fixtures::permute_2031_shape, shape_fixtures::permute_2031);
  check_fixture(transpose(x, 1, 3), shape_fixtures::transpose_13_shape, shape_fixtures::transpose_13);
  check_fixture(transpose(x, -1, 1), shape_fixtures::transpose_13_shape, shape_fixtures::transpose_13);
  // float32 follows the same path: the copy of the float32 input equals the double result.
  CHECK(values_of(permute(x.to(kFloat32), {2, 0, 3, 1})) == values_of(permute(x, {2, 0, 3, 1}).to(kFloat32)));

  CHECK_THROWS_WITH_AS(permute(x, {0, 1, 2}), doctest::Contains("expected each of its 4"), Error);
  CHECK_THROWS_WITH_AS(permute(x, {0, 1, 1, 2}), doctest::Contains("appears twice"), Error);
  CHECK_THROWS_AS(permute(x, {0, 1, 2, 4}), Error);
  CHECK_THROWS_AS(transpose(x, 0, 4), Error);
}

TEST_CASE("permute kernel: tiled transposes match the element-by-element definition") {
  // Sizes that are not multiples of the 32-wide tiles, batches, size-1 dims that coalesce away,
  // and permutations that keep the last dimension (row copies).
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  const std::vector<Case> cases = {
      {{37, 70}, {1, 0}},          {{3, 37, 70}, {0, 2, 1}},       {{5, 33, 2, 65}, {3, 1, 0, 2}},
      {{2, 1, 40, 1, 33}, {4, 1, 3, 2, 0}}, {{4, 6, 9}, {1, 0, 2}}, {{2, 3, 64, 64}, {0, 2, 3, 1}},
      {{1, 100}, {1, 0}},          {{7}, {0}},                     {{2, 0, 3}, {2, 1, 0}}};
  for (const Case& c : cases) {
    CAPTURE(shape_str(c.shape));
    Tensor x = x_of(c.shape);
    Tensor want = naive_permute(x, c.dims);
    CHECK(values_of(permute(x, c.dims)) == values_of(want));
    CHECK(values_of(permute(x.to(kFloat32), c.dims)) == values_of(want.to(kFloat32)));
    CHECK(ints_of(permute(x.to(kInt64), c.dims)) == ints_of(want.to(kInt64)));
  }
}

TEST_CASE("permute and transpose: gradients") {
  Generator gen(3);
  auto r = gradcheck([](const Inputs& v) { return permute(v[0], {2, 0, 1}); }, {randn({2, 3, 4}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([](const Inputs& v) { return transpose(v[0], 0, 2) * transpose(v[0], 0, 2); },
                {randn({3, 2, 3}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("expand / broadcast_to: repeats size-1 dims, backward sums the copies") {
  // [[1], [2]] expanded to [2, 2, 3]: each row repeated 3 times, the whole twice.
  Tensor x = reshape(tensor({1.0, 2.0}, kFloat64), {2, 1});
  Tensor y = expand(x, {2, -1, 3});
  CHECK(y.shape() == Shape{2, 2, 3});
  CHECK(values_of(y) == std::vector<double>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});
  CHECK(broadcast_to(arange(3, kInt64), {2, 3}).at<int64_t>({1, 2}) == 2);
  CHECK(expand(x, {2, 3}).shape() == Shape{2, 3});
  CHECK_THROWS_WITH_AS(expand(x, {3, 3}), doctest::Contains("non-singleton dimension 0"), Error);
  CHECK_THROWS_AS(expand(x, {3}), Error);
  CHECK_THROWS_AS(expand(x, {-1, 2, 2}), Error);

  Generator gen(4);
  auto r = gradcheck([](const Inputs& v) { return expand(v[0], {3, 2, -1, 4}); }, {randn({2, 1, 1}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

// ---- cat, stack ----

TEST_CASE("cat: fixture, int64, every dimension's gradient, errors") {
  Tensor a = x_of({2, 3, 4}), b = x_of({2, 1, 4}) + 100.0;
  check_fixture(cat({a, b, a}, 1), shape_fixtures::cat_dim1_shape, shape_fixtures::cat_dim1);
  check_fixture(cat({a, b, a}, -2), shape_fixtures::cat_dim1_shape, shape_fixtures::cat_dim1);
  CHECK(values_of(cat({a.to(kFloat32), b.to(kFloat32), a.to(kFloat32)}, 1)) ==
        values_of(cat({a, b, a}, 1).to(kFloat32)));
  // int64: [0, 1] and [2] along 0 are [0, 1, 2].
  CHECK(ints_of(cat({arange(2, kInt64), index_of({2})})) == std::vector<int64_t>{0, 1, 2});
  CHECK(cat({a, zeros({2, 0, 4}, kFloat64)}, 1).shape() == Shape{2, 3, 4});

  Generator gen(5);
  for (int64_t dim = 0; dim < 3; ++dim) {
    CAPTURE(dim);
    Shape sa{2, 3, 2}, sb{2, 3, 2}, sc{2, 3, 2};
    sb[static_cast<std::size_t>(dim)] = 1;
    sc[static_cast<std::size_t>(dim)] = 3;
    auto r = gradcheck([dim](const Inputs& v) { return cat({v[0], v[1], v[2], v[0]}, dim); },
                       {randn(sa, kFloat64, gen), randn(sb, kFloat64, gen), randn(sc, kFloat64, gen)});
    CHECK_MESSAGE(r.ok, r.report);
  }

  CHECK_THROWS_WITH_AS(cat({a, x_of({3, 1, 4})}, 1), doctest::Contains("differ in dimension 0"), Error);
  CHECK_THROWS_AS(cat({a, x_of({2, 3})}, 0), Error);
  CHECK_THROWS_AS(cat({a, a.to(kFloat32)}, 0), Error);
  CHECK_THROWS_AS(cat({}, 0), Error);
  CHECK_THROWS_AS(cat({full({}, 1.0)}, 0), Error);
  CHECK_THROWS_AS(cat({a, a}, 3), Error);
}

TEST_CASE("stack: fixture, gradient along a new first and last dimension, errors") {
  Tensor a = x_of({2, 3, 4});
  check_fixture(stack({a, a + 100.0}, 2), shape_fixtures::stack_dim2_shape, shape_fixtures::stack_dim2);
  check_fixture(stack({a, a + 100.0}, -2), shape_fixtures::stack_dim2_shape, shape_fixtures::stack_dim2);
  CHECK(stack({a, a, a}, 3).shape() == Shape{2, 3, 4, 3});
  CHECK(stack({full({}, 1.0), full({}, 2.0)}).shape() == Shape{2});

  Generator gen(6);
  for (int64_t dim : {0, -1}) {
    auto r = gradcheck([dim](const Inputs& v) { return stack({v[0], v[1], v[0]}, dim); },
                       {randn({2, 3}, kFloat64, gen), randn({2, 3}, kFloat64, gen)});
    CHECK_MESSAGE(r.ok, r.report);
  }
  CHECK_THROWS_WITH_AS(stack({a, x_of({2, 4, 3})}), doctest::Contains("equal shape"), Error);
  CHECK_THROWS_AS(stack({a, a}, 4), Error);
}

// ---- narrow, select, slice, split, chunk ----

TEST_CASE("narrow and select: fixture, a view along the first dimension, gradients") {
  Tensor y = x_of({7, 5});
  check_fixture(narrow(y, 1, -3, 2), shape_fixtures::narrow_b_shape, shape_fixtures::narrow_b);
  // Rows 2..4 of [7, 5] are one contiguous run: shared storage starting at element 10.
  Tensor rows = narrow(y, 0, 2, 3);
  CHECK(rows.data<double>() == y.data<double>() + 10);
  CHECK(values_of(rows)[0] == values_of(y)[10]);
  CHECK(narrow(reshape(y, {1, 7, 5}), 1, 6, 1).data<double>() == y.data<double>() + 30);
  // select(y, 1, -1) is the last column: y[i][4] = x_of at 5 i + 4.
  Tensor col = select(y, 1, -1);
  CHECK(col.shape() == Shape{7});
  CHECK(col.at<double>({2}) == values_of(y)[14]);
  CHECK(ints_of(select(reshape(arange(6, kInt64), {2, 3}), 0, 1)) == std::vector<int64_t>{3, 4, 5});
  CHECK_THROWS_WITH_AS(narrow(y, 0, 5, 3), doctest::Contains("exceeds the size 7"), Error);
  CHECK_THROWS_AS(narrow(y, 1, -6, 1), Error);
  CHECK_THROWS_AS(narrow(y, 2, 0, 1), Error);
  CHECK_THROWS_AS(select(y, 0, 7), Error);

  Generator gen(7);
  Tensor z = randn({3, 4}, kFloat64, gen);
  for (int64_t dim : {0, 1}) {
    auto r = gradcheck([dim](const Inputs& v) { return narrow(v[0], dim, 1, 2); }, {z});
    CHECK_MESSAGE(r.ok, r.report);
  }
  auto r = gradcheck([](const Inputs& v) { return select(v[0], 1, -2) * select(v[0], 1, 0); }, {z});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("slice: Python's start:end:step with negative and clamped bounds") {
  Tensor y = x_of({7, 5});
  check_fixture(slice(y, 0, -6, 100, 3), shape_fixtures::slice_a_shape, shape_fixtures::slice_a);
  check_fixture(slice(y, 1, 1, -1, 2), shape_fixtures::slice_b_shape, shape_fixtures::slice_b);
  // On [0, 1, 2, 3, 4, 5]: [1:5:2] = [1, 3]; [-2:] = [4, 5]; [:-4] = [0, 1]; [-100:100:4] =
  // [0, 4]; [4:2] = []; [10:] = [].
  Tensor v = arange(6, kInt64);
  CHECK(ints_of(slice(v, 0, 1, 5, 2)) == std::vector<int64_t>{1, 3});
  CHECK(ints_of(slice(v, 0, -2)) == std::vector<int64_t>{4, 5});
  CHECK(ints_of(slice(v, 0, std::nullopt, -4)) == std::vector<int64_t>{0, 1});
  CHECK(ints_of(slice(v, 0, -100, 100, 4)) == std::vector<int64_t>{0, 4});
  CHECK(slice(v, 0, 4, 2).numel() == 0);
  CHECK(slice(v, 0, 10).numel() == 0);
  CHECK_THROWS_WITH_AS(slice(v, 0, 0, 6, 0), doctest::Contains("step must be positive"), Error);
  CHECK_THROWS_AS(slice(v, 0, 0, 6, -1), Error);
  CHECK_THROWS_AS(slice(v, 1), Error);

  Generator gen(8);
  auto r = gradcheck([](const Inputs& in) { return slice(slice(in[0], 0, 1, std::nullopt, 2), -1, -4, -1, 2); },
                     {randn({5, 6}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("split and chunk: piece sizes as in PyTorch, gradients through the pieces") {
  Tensor x = x_of({7, 2});
  std::vector<Tensor> parts = split(x, 3);  // 7 = 3 + 3 + 1
  REQUIRE(parts.size() == 3);
  CHECK(parts[2].shape() == Shape{1, 2});
  CHECK(values_of(parts[1]) == values_of(narrow(x, 0, 3, 3)));
  CHECK(split(x, {2, 5})[1].shape() == Shape{5, 2});
  CHECK(chunk(x, 3).size() == 3);     // ceil(7 / 3) = 3 per piece: 3, 3, 1
  CHECK(chunk(x, 6).size() == 4);     // ceil(7 / 6) = 2 per piece: 2, 2, 2, 1
  CHECK(chunk(x, 2, 1)[1].shape() == Shape{7, 1});
  CHECK_THROWS_WITH_AS(split(x, {2, 4}), doctest::Contains("add up to 6"), Error);
  CHECK_THROWS_AS(chunk(x, 0), Error);

  Generator gen(9);
  auto r = gradcheck([](const Inputs& in) {
    std::vector<Tensor> p = chunk(in[0], 3, 1);  // swap the first and last pieces
    return cat({p[2], p[1], p[0] * p[0]}, 1);
  }, {randn({2, 7}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

// ---- pad, roll ----

TEST_CASE("pad: constant value, last dimension first, negative counts crop") {
  // [[1, 2, 3]] padded by {1, -1, 1, 0} with 9: width drops 3, gains a 9 on the left; one row of
  // 9s on top: [[9, 9, 9], [9, 1, 2]].
  Tensor small = tensor({{1, 2, 3}}, kFloat64);
  Tensor p = pad(small, {1, -1, 1, 0}, 9.0);
  CHECK(p.shape() == Shape{2, 3});
  CHECK(values_of(p) == std::vector<double>{9, 9, 9, 9, 1, 2});
  CHECK(ints_of(pad(arange(3, kInt64), {2, 0})) == std::vector<int64_t>{0, 0, 0, 1, 2});
  CHECK(pad(small, {-3, 0}).shape() == Shape{1, 0});

  Tensor x = x_of({2, 3, 4, 5});
  check_fixture(pad(x, {1, -2, 2, 0, -1, 1}, 0.5), shape_fixtures::pad_mixed_shape, shape_fixtures::pad_mixed);
  CHECK(values_of(pad(x.to(kFloat32), {1, -2, 2, 0, -1, 1}, 0.5)) ==
        values_of(pad(x, {1, -2, 2, 0, -1, 1}, 0.5).to(kFloat32)));

  CHECK_THROWS_WITH_AS(pad(small, {1, 2, 3}), doctest::Contains("pairs"), Error);
  CHECK_THROWS_AS(pad(small, {1, 1, 1, 1, 1, 1}), Error);
  CHECK_THROWS_WITH_AS(pad(small, {-2, -2}), doctest::Contains("negative size"), Error);

  Generator gen(10);
  auto r = gradcheck([](const Inputs& in) { return pad(in[0], {2, -1, -1, 1}, 0.25); }, {randn({2, 3, 4}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([](const Inputs& in) { return pad(in[0], {-1, -2, 1, 1, 0, 2}); }, {randn({2, 2, 5}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("roll: several dims, shifts past the size, flattened") {
  // [[0, 1, 2], [3, 4, 5]] rolled by 1 along dim 1: [[2, 0, 1], [5, 3, 4]]; flattened by -2:
  // [2, 3, 4, 5, 0, 1].
  Tensor v = reshape(arange(6, kInt64), {2, 3});
  CHECK(ints_of(roll(v, {1}, {1})) == std::vector<int64_t>{2, 0, 1, 5, 3, 4});
  CHECK(ints_of(roll(v, {-2})) == std::vector<int64_t>{2, 3, 4, 5, 0, 1});
  CHECK(roll(v, {-2}).shape() == Shape{2, 3});

  Tensor x = x_of({3, 4, 5});
  check_fixture(roll(x, {2, -1, 7}, {0, 2, 1}), shape_fixtures::roll_dims_shape, shape_fixtures::roll_dims);
  check_fixture(roll(x, {-5}), shape_fixtures::roll_flat_shape, shape_fixtures::roll_flat);
  CHECK_THROWS_WITH_AS(roll(x, {1, 2}, {0}), doctest::Contains("same length"), Error);
  CHECK_THROWS_AS(roll(x, {1, 2}), Error);
  CHECK_THROWS_AS(roll(x, {1}, {3}), Error);

  Generator gen(11);
  auto r = gradcheck([](const Inputs& in) { return roll(in[0], {-3, 2}, {1, 2}); }, {randn({2, 3, 4}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([](const Inputs& in) { return roll(in[0], {5}); }, {randn({2, 3}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

// ---- index ops ----

TEST_CASE("index_select and index_add: fixture, int64, repeated indices, errors") {
  Tensor x = x_of({3, 5});
  check_fixture(index_select(x, 1, index_of({3, 0, 3})), shape_fixtures::index_select_dim1_shape,
                shape_fixtures::index_select_dim1);
  // Rows 2, 0, 2 of [[0, 1], [2, 3], [4, 5]]: [[4, 5], [0, 1], [4, 5]].
  Tensor v = reshape(arange(6, kInt64), {3, 2});
  CHECK(ints_of(index_select(v, 0, index_of({2, 0, 2}))) == std::vector<int64_t>{4, 5, 0, 1, 4, 5});
  // index_add of ones at rows {1, 1, 0} of zeros [2, 2]: row 1 gets 2, row 0 gets 1.
  Tensor added = index_add(zeros({2, 2}, kFloat64), 0, index_of({1, 1, 0}), ones({3, 2}, kFloat64));
  CHECK(values_of(added) == std::vector<double>{1, 1, 2, 2});

  CHECK_THROWS_WITH_AS(index_select(x, 1, index_of({1, 5})), doctest::Contains("index 5 is out of range"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 1, index_of({-1})), doctest::Contains("size 5"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, tensor({0.0, 1.0})), doctest::Contains("int64"), Error);
  CHECK_THROWS_AS(index_select(x, 0, index_of({0, 1}, {1, 2})), Error);
  CHECK_THROWS_AS(index_add(x, 0, index_of({0}), ones({2, 5}, kFloat64)), Error);

  Generator gen(12);
  const Tensor idx = index_of({2, 0, 2, 2, 1});  // repeated: the gradients must add up
  auto r = gradcheck([&](const Inputs& in) { return index_select(in[0], 0, idx); }, {randn({3, 2}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([&](const Inputs& in) { return index_select(in[0], -1, idx); }, {randn({2, 3}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([&](const Inputs& in) { return index_add(in[0], 1, idx, in[1]); },
                {randn({2, 3}, kFloat64, gen), randn({2, 5}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("gather and scatter_add: fixtures of values and gradient, repeated indices") {
  Tensor x = x_of({3, 5});
  Tensor idx = tensor(shape_fixtures::gather_index, shape_fixtures::gather_index_shape);
  check_fixture(gather(x, 1, idx), shape_fixtures::gather_dim1_shape, shape_fixtures::gather_dim1);
  Tensor leaf = x_of({3, 5}).requires_grad_();
  gather(leaf, 1, idx).backward(x_of({3, 4}) + 10.0);
  REQUIRE(leaf.grad().shape() == shape_fixtures::gather_grad_shape);
  for (std::size_t i = 0; i < shape_fixtures::gather_grad.size(); ++i)
    CHECK(values_of(leaf.grad())[i] == doctest::Approx(shape_fixtures::gather_grad[i]).epsilon(1e-12));
  // out[i][j] = x[i][index[i][j]] on [[0, 1, 2], [3, 4, 5]] with index [[2, 2], [0, 1]]: [[2, 2], [3, 4]].
  Tensor v = reshape(arange(6, kInt64), {2, 3});
  CHECK(ints_of(gather(v, 1, index_of({2, 2, 0, 1}, {2, 2}))) == std::vector<int64_t>{2, 2, 3, 4});
  // Along dim 0 with a smaller index [1, 3]: out[0][j] = v[index[0][j]][j] = [3, 1, 5].
  CHECK(ints_of(gather(v, 0, index_of({1, 0, 1}, {1, 3}))) == std::vector<int64_t>{3, 1, 5});
  // scatter_add of [[1, 2, 3]] into zeros [2, 2] at columns [[0, 0, 1]]... must fit: index [1, 2].
  Tensor s = scatter_add(zeros({2, 2}, kFloat64), 1, index_of({1, 1}, {1, 2}), tensor({{1, 2}}, kFloat64));
  CHECK(values_of(s) == std::vector<double>{0, 3, 0, 0});

  CHECK_THROWS_WITH_AS(gather(x, 1, index_of({0, 5}, {1, 2})),
                       doctest::Contains("index 5 is out of range for dimension 1 of size 5"), Error);
  CHECK_THROWS_WITH_AS(gather(x, 0, index_of({0, 1}, {2})), doctest::Contains("as many dimensions"), Error);
  CHECK_THROWS_AS(gather(x, 1, index_of({0, 0, 0, 0}, {4, 1})), Error);  // 4 rows > 3
  CHECK_THROWS_AS(scatter_add(x, 1, index_of({0, 1}, {1, 2}), ones({1, 3}, kFloat64)), Error);

  Generator gen(13);
  const Tensor rep = index_of({1, 1, 0, 2, 2, 2, 0, 0}, {2, 4});  // repeats within rows
  auto r = gradcheck([&](const Inputs& in) { return gather(in[0], 1, rep); }, {randn({2, 3}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  const Tensor rep0 = index_of({1, 1, 0, 1, 0, 0}, {3, 2});  // along dim 0, index narrower than x
  r = gradcheck([&](const Inputs& in) { return gather(in[0], 0, rep0); }, {randn({2, 3}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([&](const Inputs& in) { return scatter_add(in[0], 1, rep, in[1]); },
                {randn({2, 3}, kFloat64, gen), randn({2, 4}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("embedding: fixture of rows and weight gradient, repeated indices, bad index") {
  Tensor w = x_of({6, 3}).requires_grad_();
  Tensor idx = index_of({5, 0, 2, 2, 2, 1}, {2, 3});
  Tensor e = embedding(w, idx);
  check_fixture(e, shape_fixtures::embedding_out_shape, shape_fixtures::embedding_out);
  e.backward(x_of({2, 3, 3}) + 10.0);
  REQUIRE(w.grad().shape() == shape_fixtures::embedding_grad_shape);
  for (std::size_t i = 0; i < shape_fixtures::embedding_grad.size(); ++i)
    CHECK(values_of(w.grad())[i] == doctest::Approx(shape_fixtures::embedding_grad[i]).epsilon(1e-12));
  CHECK(values_of(embedding(x_of({6, 3}, kFloat32), idx)) == values_of(e.detach().to(kFloat32)));
  CHECK(embedding(x_of({6, 3}), index_of({4})).shape() == Shape{1, 3});
  CHECK(embedding(x_of({6, 3}), full({}, 4.0, kInt64)).shape() == Shape{3});

  CHECK_THROWS_WITH_AS(embedding(x_of({6, 3}), index_of({1, 7})),
                       doctest::Contains("index 7 is out of range for a weight of 6 rows"), Error);
  CHECK_THROWS_AS(embedding(x_of({6, 3}), index_of({-1})), Error);
  CHECK_THROWS_WITH_AS(embedding(idx, x_of({6, 3})), doctest::Contains("arguments are (weight, indices)"), Error);
  CHECK_THROWS_AS(embedding(x_of({6}), index_of({1})), Error);

  Generator gen(14);
  auto r = gradcheck([&](const Inputs& in) { return embedding(in[0], idx); }, {randn({6, 2}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("index adds do not depend on the thread count") {
  // A large embedding backward with many repeats: the sums run in a fixed order per element.
  Generator gen(15);
  Tensor w = randn({50, 64}, kFloat32, gen);
  Tensor idx = Tensor::empty({20000}, kInt64);
  for (int64_t i = 0; i < idx.numel(); ++i) idx.data<int64_t>()[i] = (i * 7) % 50;
  Tensor g = randn({20000, 64}, kFloat32, gen);
  auto grad_with = [&](int threads) {
    const int before = get_num_threads();
    set_num_threads(threads);
    Tensor leaf = w.clone().requires_grad_();
    embedding(leaf, idx).backward(g);
    set_num_threads(before);
    return values_of(leaf.grad());
  };
  CHECK(grad_with(1) == grad_with(4));
}
