// lacoot/backend/cpu/sort.hpp — sorting rows, and finding the k smallest or largest of each.
//
// Holds: sort_rows (stable sort of every contiguous row, with the input position of each
// sorted element) and topk_rows (the k first elements of each row in sorted order), both
// parallel over rows. ops/sort.hpp makes any dimension's lines into rows first.
// Needs: core/.
// Leaves out: parallelism inside one row; a single very long row is sorted on one thread.
//
// Keys. Every value is mapped to an unsigned integer of its width whose order is the value
// order, the bit trick of radix sorts on floats (Herf, "Radix Tricks", 2001; CUB's radix sort,
// which torch.sort runs on CUDA, uses the same): positive floats get their sign bit set,
// negative ones all their bits flipped; int64 gets its sign bit flipped. Following PyTorch, NaN
// sorts after +inf (the largest key), and -0.0 is mapped to +0.0 so the two tie. A descending
// sort sorts the complemented keys. After this, every comparison is one integer comparison.
// Order. Equal keys keep their input order (torch.sort(stable=True)): rows of kRadixMin
// elements or more (64 or 192) go through an LSD radix sort, a sequence of stable counting sorts on the
// key's bytes, lowest byte first (Knuth, TAOCP vol. 3, 5.2.5), which moves (key, index) pairs
// and skips the bytes all keys share; shorter rows use std::sort comparing (key, index), which
// gives the same order since indices are distinct. topk uses std::nth_element on (key, index),
// O(n) per row, then sorts only the k it keeps.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/parallel.hpp"

namespace lacoot::backend::cpu {

inline constexpr int64_t kSortGrain = 1 << 13;  // elements per thread at least

template <class T>
using SortKey = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

// Rows shorter than this use a comparison sort: the radix sort's fixed cost (a 256-bucket
// histogram per key byte) only pays off from here (measured on random normals: 64 for 4-byte
// keys, about 192 for 8-byte keys, which take twice the passes).
template <class T>
inline constexpr int64_t kRadixMin = sizeof(T) == 4 ? 64 : 192;

// The order-preserving unsigned key of a value (see the header comment).
template <class T>
SortKey<T> sort_key(T v) {
  using K = SortKey<T>;
  constexpr K sign = K(1) << (8 * sizeof(K) - 1);
  if constexpr (std::is_integral_v<T>) {
    return static_cast<K>(v) ^ sign;
  } else {
    if (std::isnan(v)) return ~K(0);  // NaN: after +inf
    if (v == T(0)) v = T(0);          // -0.0 ties with +0.0
    const K bits = std::bit_cast<K>(v);
    return (bits & sign) ? ~bits : (bits | sign);
  }
}

// Sorts keys[0, n) ascending and stably, moving idx alongside; tmp_* hold n elements each.
template <class K>
void radix_sort_pairs(K* keys, int64_t* idx, K* tmp_keys, int64_t* tmp_idx, int64_t n) {
  constexpr int kPasses = sizeof(K);
  // The histograms of every byte, from one read of the keys (byte counts do not change as the
  // keys move, so they stay valid for every pass).
  std::array<std::array<int64_t, 256>, kPasses> count{};
  for (int64_t i = 0; i < n; ++i)
    for (int p = 0; p < kPasses; ++p) ++count[p][(keys[i] >> (8 * p)) & 0xFF];
  K *src_k = keys, *dst_k = tmp_keys;
  int64_t *src_i = idx, *dst_i = tmp_idx;
  for (int p = 0; p < kPasses; ++p) {
    std::array<int64_t, 256>& c = count[p];
    if (c[(src_k[0] >> (8 * p)) & 0xFF] == n) continue;  // every key has this byte: nothing moves
    int64_t start = 0;  // bucket b starts where buckets 0..b-1 end
    for (int64_t& b : c) start += std::exchange(b, start);
    for (int64_t i = 0; i < n; ++i) {  // in input order: equal bytes keep their order (stable)
      const int64_t at = c[(src_k[i] >> (8 * p)) & 0xFF]++;
      dst_k[at] = src_k[i];
      dst_i[at] = src_i[i];
    }
    std::swap(src_k, dst_k);
    std::swap(src_i, dst_i);
  }
  if (src_k != keys) {  // an odd number of passes ran: the result is in the scratch buffers
    std::copy_n(src_k, n, keys);
    std::copy_n(src_i, n, idx);
  }
}

// Scratch space of one thread, reused across its rows.
template <class T>
struct SortBuffers {
  std::vector<SortKey<T>> keys, tmp_keys;
  std::vector<int64_t> idx, tmp_idx;
  void fill(const T* x, int64_t n, bool complement) {  // keys of x, indices 0..n-1
    keys.resize(static_cast<std::size_t>(n));
    idx.resize(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const SortKey<T> k = sort_key(x[i]);
      keys[static_cast<std::size_t>(i)] = complement ? ~k : k;
    }
    std::iota(idx.begin(), idx.end(), int64_t{0});
  }
  // Orders positions a, b of the row: by key, ties by position.
  bool before(int64_t a, int64_t b) const {
    const SortKey<T> ka = keys[static_cast<std::size_t>(a)], kb = keys[static_cast<std::size_t>(b)];
    return ka < kb || (ka == kb && a < b);
  }
};

// Sorts each of `rows` contiguous rows of length n: values[r] is row r sorted (ascending, or
// descending), indices[r][j] the position in row r that values[r][j] came from.
template <class T>
void sort_rows(const T* x, int64_t rows, int64_t n, bool descending, T* values, int64_t* indices) {
  parallel_for(rows, std::max<int64_t>(1, kSortGrain / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
    SortBuffers<T> buf;
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = x + r * n;
      buf.fill(row, n, descending);
      if (n < kRadixMin<T>) {
        std::sort(buf.idx.begin(), buf.idx.end(), [&](int64_t a, int64_t b) { return buf.before(a, b); });
      } else {
        buf.tmp_keys.resize(buf.keys.size());
        buf.tmp_idx.resize(buf.idx.size());
        radix_sort_pairs(buf.keys.data(), buf.idx.data(), buf.tmp_keys.data(), buf.tmp_idx.data(), n);
      }
      for (int64_t j = 0; j < n; ++j) {
        const int64_t i = buf.idx[static_cast<std::size_t>(j)];
        values[r * n + j] = row[i];  // the input value itself: -0.0 and NaN payloads survive
        indices[r * n + j] = i;
      }
    }
  });
}

// The k smallest (or largest) elements of each contiguous row of length n: values[r] and
// indices[r] (length k) as sort_rows would give its first k, or, unless `sorted`, the same
// k elements in their input order.
template <class T>
void topk_rows(const T* x, int64_t rows, int64_t n, int64_t k, bool largest, bool sorted, T* values,
               int64_t* indices) {
  parallel_for(rows, std::max<int64_t>(1, kSortGrain / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
    SortBuffers<T> buf;
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = x + r * n;
      buf.fill(row, n, largest);
      auto before = [&](int64_t a, int64_t b) { return buf.before(a, b); };
      const auto first = buf.idx.begin(), kth = first + k;
      if (k < n) std::nth_element(first, kth, buf.idx.end(), before);  // the k best to the front
      if (sorted) std::sort(first, kth, before);
      else std::sort(first, kth);  // by input position
      for (int64_t j = 0; j < k; ++j) {
        const int64_t i = buf.idx[static_cast<std::size_t>(j)];
        values[r * k + j] = row[i];
        indices[r * k + j] = i;
      }
    }
  });
}

}  // namespace lacoot::backend::cpu
