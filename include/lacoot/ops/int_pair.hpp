// lacoot/ops/int_pair.hpp — an (h, w) pair of sizes, as PyTorch's `_pair`.
//
// Holds: IntPair, the type of every (height, width) option of the 2-D ops (kernel_size,
// stride, padding, dilation, output_size): one integer fills both, as in PyTorch, where
// `kernel_size=3` means (3, 3).
// Needs: nothing but the standard library.
// Leaves out: other arities (conv1d/conv3d would want their own).
#pragma once

#include <cstdint>

namespace lacoot {

// An (h, w) pair; a single integer means the same value on both axes: `.stride = 2` is
// (2, 2), `.stride = {2, 1}` steps 2 rows and 1 column.
struct IntPair {
  int64_t h = 0, w = 0;
  constexpr IntPair(int64_t both) : h(both), w(both) {}
  constexpr IntPair(int64_t h_, int64_t w_) : h(h_), w(w_) {}
};

}  // namespace lacoot
