// Tests of lacoot/ops/sort.hpp.
//
// References: tiny cases worked by hand (checked against torch 1.13, stable=True), PyTorch
// results in tests/fixtures/sort_fixtures.hpp (written by tests/fixtures/gen_sort.py; inputs
// ties_of / distinct_of rebuilt here), std::stable_sort on large random rows and columns, and
// finite differences (gradcheck) for the gradients of the values.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../fixtures/sort_fixtures.hpp"
#include "../check.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/elementwise.hpp"
#include "lacoot/ops/sort.hpp"

using namespace lacoot;
using namespace lacoot::test;
using Inputs = std::vector<Tensor>;

namespace {

// ties_of(shape)[i] = (i * 7919) % 13 - 6: integers in [-6, 6], many ties.
Tensor ties_of(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, kInt64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = (i * 7919) % 13 - 6;
  return t.to(dtype);
}

// distinct_of(shape)[i] = ((i * 7919) % 1009) / 8 - 60: distinct multiples of 1/8 (exact in
// float32) while numel <= 1009. `scale` 8 gives the integers behind them, for int64.
Tensor distinct_of(const Shape& shape, DType dtype, double scale = 1.0) {
  Tensor t = Tensor::empty(shape, kFloat64);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<double>()[i] = (static_cast<double>((i * 7919) % 1009) / 8.0 - 60.0) * scale;
  return t.to(dtype);
}

void check_sorted(const Sorted& s, const std::vector<int64_t>& shape, const std::vector<double>& values,
                  const std::vector<int64_t>& indices) {
  REQUIRE(s.values.shape() == shape);
  REQUIRE(s.indices.shape() == shape);
  CHECK(s.indices.dtype() == kInt64);
  CHECK(values_of(s.values) == values);
  CHECK(ints_of(s.indices) == indices);
}

}  // namespace

TEST_CASE("sort: hand cases, stable ties, NaN last, -0 ties with +0") {
  // [3, 1, 2]: the smallest is at 1, then 2, then 0.
  Sorted s = sort(tensor({3.0, 1.0, 2.0}));
  CHECK(values_of(s.values) == std::vector<double>{1, 2, 3});
  CHECK(ints_of(s.indices) == std::vector<int64_t>{1, 2, 0});
  // [2, 1, 2, 1]: equal values keep their input order, ascending and descending alike.
  CHECK(ints_of(sort(tensor({2.0, 1.0, 2.0, 1.0})).indices) == std::vector<int64_t>{1, 3, 0, 2});
  CHECK(ints_of(sort(tensor({2.0, 1.0, 2.0, 1.0}), 0, true).indices) == std::vector<int64_t>{0, 2, 1, 3});
  // [nan, 1, -inf, -0, 0, inf]: NaN is the largest, -0 and +0 tie (torch.sort, stable=True).
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = tensor({NAN, 1.0, -INFINITY, -0.0, 0.0, INFINITY}, dt);
    CHECK(ints_of(sort(x).indices) == std::vector<int64_t>{2, 3, 4, 1, 5, 0});
    CHECK(ints_of(sort(x, -1, true).indices) == std::vector<int64_t>{0, 5, 1, 3, 4, 2});
    CHECK(std::signbit(sort(x).values.to(kFloat64).data<double>()[1]));  // the input's -0 itself
    CHECK(ints_of(topk(x, 3).indices) == std::vector<int64_t>{0, 5, 1});
  }
  // int64 keys: the sign matters ([5, -3, 0] -> [-3, 0, 5]).
  Tensor v = tensor(std::vector<int64_t>{5, -3, 0, INT64_MIN, INT64_MAX}, {5});
  CHECK(ints_of(sort(v).values) == std::vector<int64_t>{INT64_MIN, -3, 0, 5, INT64_MAX});
  CHECK(ints_of(argsort(v, 0, true)) == std::vector<int64_t>{4, 0, 2, 1, 3});
  // 0-d and empty tensors.
  CHECK(sort(full({}, 4.0)).values.item() == 4.0);
  CHECK(sort(full({}, 4.0)).indices.shape() == Shape{});
  CHECK(sort(zeros({3, 0})).values.shape() == Shape{3, 0});
  CHECK(sort(zeros({0, 3}), 0).indices.shape() == Shape{0, 3});
}

TEST_CASE("sort: PyTorch fixtures (stable), radix and comparison paths, every dtype") {
  // ties_of holds integers, so float32, float64 and int64 must give the same values and indices.
  for (DType dt : {kFloat64, kFloat32, kInt64}) {
    CAPTURE(dtype_name(dt));
    using namespace sort_fixtures;
    check_sorted(sort(ties_of({3, 300}, dt), 1), ties_rows_values_shape, ties_rows_values, ties_rows_indices);
    check_sorted(sort(ties_of({3, 300}, dt), -1, true), ties_rows_desc_values_shape, ties_rows_desc_values,
                 ties_rows_desc_indices);
    check_sorted(sort(ties_of({300, 3}, dt), 0), ties_cols_values_shape, ties_cols_values, ties_cols_indices);
    check_sorted(sort(ties_of({4, 7, 3}, dt), 1, true), ties_small_desc_values_shape, ties_small_desc_values,
                 ties_small_desc_indices);
    CHECK(ints_of(argsort(ties_of({300, 3}, dt), 0)) == ties_cols_indices);
  }
}

TEST_CASE("topk: PyTorch fixtures, unsorted order, k = 0 and k = n, errors") {
  using namespace sort_fixtures;
  for (DType dt : {kFloat64, kFloat32}) {
    CAPTURE(dtype_name(dt));
    check_sorted(topk(distinct_of({4, 300}, dt), 5, 1), topk_rows_values_shape, topk_rows_values, topk_rows_indices);
    check_sorted(topk(distinct_of({300, 3}, dt), 4, 0, false), topk_cols_small_values_shape,
                 topk_cols_small_values, topk_cols_small_indices);
  }
  // int64: the same data times 8 (integers), so the same indices.
  CHECK(ints_of(topk(distinct_of({4, 300}, kInt64, 8.0), 5, 1).indices) == topk_rows_indices);

  // topk of [1, 5, 2, 4] with k = 2: values [5, 4] at [1, 3]; unsorted: input order, [5, 4] at [1, 3]
  // too; the 2 smallest unsorted: [1, 2] at [0, 2]; of [4, 1, 5] unsorted: [4, 5] at [0, 2].
  Tensor x = tensor({1.0, 5.0, 2.0, 4.0}, kFloat64);
  CHECK(ints_of(topk(x, 2).indices) == std::vector<int64_t>{1, 3});
  CHECK(values_of(topk(x, 2).values) == std::vector<double>{5, 4});
  CHECK(ints_of(topk(x, 2, 0, false, false).indices) == std::vector<int64_t>{0, 2});
  CHECK(ints_of(topk(tensor({4.0, 1.0, 5.0}), 2, 0, true, false).indices) == std::vector<int64_t>{0, 2});
  CHECK(topk(x, 0).values.shape() == Shape{0});
  CHECK(ints_of(topk(x, 4, 0, false).indices) == ints_of(sort(x).indices));
  CHECK(topk(full({}, 3.0), 1).values.item() == 3.0);

  CHECK_THROWS_WITH_AS(topk(x, 5), doctest::Contains("k = 5 is out of range for dimension 0 of size 4"), Error);
  CHECK_THROWS_AS(topk(x, -1), Error);
  CHECK_THROWS_AS(topk(x, 1, 1), Error);
  CHECK_THROWS_AS(sort(x, 2), Error);
  CHECK_THROWS_AS(sort(Tensor()), Error);
}

TEST_CASE("sort: large random rows and columns match std::stable_sort") {
  // Rows long enough for the radix path, with repeated values, negatives, infinities, NaN and
  // signed zeros; columns sorted along dim 0 (the sliced Wasserstein case: [N, K] projections).
  // The reference orders NaN last and lets -0 tie with +0, as torch.sort does.
  Generator gen(21);
  const int64_t N = 3001, K = 17;
  Tensor x = randn({N, K}, kFloat64, gen);
  double* px = x.data<double>();
  for (int64_t i = 0; i < x.numel(); i += 7) px[i] = std::round(px[i] * 2);  // ties
  for (int64_t i = 3; i < x.numel(); i += 101) px[i] = (i % 2) ? -0.0 : 0.0;
  for (int64_t i = 5; i < x.numel(); i += 997) px[i] = NAN;
  px[6] = INFINITY;
  px[K * 100] = -INFINITY;
  auto less = [](double a, double b) { return !std::isnan(a) && (std::isnan(b) || a < b); };
  auto same = [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); };
  for (DType dt : {kFloat64, kFloat32}) {
    for (bool descending : {false, true}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(descending);
      Tensor xd = x.to(dt);
      Sorted cols = sort(xd, 0, descending);
      Sorted rows = sort(reshape(xd, {K, N}), 1, descending);
      const std::vector<double> xs = values_of(xd), cv = values_of(cols.values), rv = values_of(rows.values);
      const std::vector<int64_t> ci = ints_of(cols.indices), ri = ints_of(rows.indices);
      bool cols_ok = true, rows_ok = true;
      for (int64_t k = 0; k < K; ++k) {
        // Column k of x, and row k of the [K, N] reshape, sorted by the standard library.
        std::vector<int64_t> col(static_cast<std::size_t>(N)), row(static_cast<std::size_t>(N));
        std::iota(col.begin(), col.end(), 0);
        std::iota(row.begin(), row.end(), 0);
        auto at_col = [&](int64_t i) { return xs[static_cast<std::size_t>(i * K + k)]; };
        auto at_row = [&](int64_t i) { return xs[static_cast<std::size_t>(k * N + i)]; };
        std::stable_sort(col.begin(), col.end(), [&](int64_t a, int64_t b) {
          return descending ? less(at_col(b), at_col(a)) : less(at_col(a), at_col(b));
        });
        std::stable_sort(row.begin(), row.end(), [&](int64_t a, int64_t b) {
          return descending ? less(at_row(b), at_row(a)) : less(at_row(a), at_row(b));
        });
        for (int64_t j = 0; j < N; ++j) {
          const auto c = static_cast<std::size_t>(j * K + k), r = static_cast<std::size_t>(k * N + j);
          cols_ok = cols_ok && ci[c] == col[static_cast<std::size_t>(j)] && same(cv[c], at_col(ci[c]));
          rows_ok = rows_ok && ri[r] == row[static_cast<std::size_t>(j)] && same(rv[r], at_row(ri[r]));
        }
      }
      CHECK(cols_ok);
      CHECK(rows_ok);
      // topk along dim 0 is the head of the sort.
      Sorted t = topk(xd, 10, 0, descending);
      CHECK(ints_of(t.indices) == ints_of(slice(cols.indices, 0, 0, 10)));
    }
  }
}

TEST_CASE("sort and topk: gradients of the values scatter back to the input positions") {
  // Values are distinct (random normals), so the finite differences do not cross a tie.
  Generator gen(22);
  for (int64_t dim : {0, 1, -1}) {
    for (bool descending : {false, true}) {
      CAPTURE(dim);
      auto r = gradcheck([&](const Inputs& in) { return sort(in[0], dim, descending).values; },
                         {randn({4, 5}, kFloat64, gen)});
      CHECK_MESSAGE(r.ok, r.report);
    }
  }
  auto r = gradcheck([](const Inputs& in) { return sort(in[0], 1).values; }, {randn({2, 3, 4}, kFloat64, gen)});
  CHECK_MESSAGE(r.ok, r.report);
  for (bool largest : {true, false}) {
    for (bool sorted : {true, false}) {
      r = gradcheck([&](const Inputs& in) { return topk(in[0], 2, 0, largest, sorted).values; },
                    {randn({5, 3}, kFloat64, gen)});
      CHECK_MESSAGE(r.ok, r.report);
      r = gradcheck([&](const Inputs& in) { return topk(in[0], 3, -1, largest, sorted).values; },
                    {randn({2, 6}, kFloat64, gen)});
      CHECK_MESSAGE(r.ok, r.report);
    }
  }
  // The gradient of a sorted vector goes to where each value was: sort([3, 1, 2]) with upstream
  // [10, 20, 30] gives [30, 10, 20] (1 is first: 10 goes to position 1; 2 gets 20; 3 gets 30).
  Tensor x = tensor({3.0, 1.0, 2.0}, kFloat64).requires_grad_();
  sort(x).values.backward(tensor({10.0, 20.0, 30.0}, kFloat64));
  CHECK(values_of(x.grad()) == std::vector<double>{30, 10, 20});
  CHECK_FALSE(sort(x).indices.requires_grad());
  CHECK_FALSE(argsort(x).requires_grad());
}
