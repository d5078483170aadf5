// lacoot/core/rng.hpp — the random number generator behind rand, randn, dropout and shuffles.
//
// Holds: Generator, a counter-based generator, and the process-wide default_generator().
// Needs: core/host_device.hpp, the standard library.
//
// Why counter-based: the i-th number drawn is a pure function of (seed, i), the way PyTorch's
// CUDA Philox generator works. A kernel that fills n elements takes the counter range
// [offset, offset + n) and may split it over any number of threads: the values do not depend
// on the thread count, and a checkpoint only needs (seed, offset) to resume the stream.
//
// The function is SplitMix64's finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom
// number generators", OOPSLA 2014) applied to seed * φ + counter, with φ the 64-bit golden
// ratio constant; SplitMix64 passes BigCrush. Uniform floats take the top 24 bits (doubles the
// top 53) so they lie in [0, 1); normals use the Box–Muller transform on the draws 2i, 2i+1.
#pragma once

#include <cmath>
#include <cstdint>

#include "host_device.hpp"

namespace lacoot {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }

  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  // The number of 64-bit draws consumed so far; with seed() it is the whole state.
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

  // Reserves n consecutive counters and returns the first; the caller draws bits(first + i).
  uint64_t advance(uint64_t n) {
    uint64_t first = offset_;
    offset_ += n;
    return first;
  }

  // The 64 random bits at a counter: stateless, so any thread may call it, on the CPU or in a
  // CUDA kernel (which thus draws the very numbers the CPU draws).
  LACOOT_HD uint64_t bits(uint64_t counter) const {
    uint64_t z = seed_ * 0x9E3779B97F4A7C15ull + counter + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1).
  template <class T>
  LACOOT_HD T uniform(uint64_t counter) const {
    if constexpr (sizeof(T) == 4) return static_cast<T>(bits(counter) >> 40) * 0x1.0p-24f;
    else return static_cast<T>(bits(counter) >> 11) * 0x1.0p-53;
  }

  // Standard normal from the two draws at counters 2i and 2i+1 (Box–Muller, cosine branch).
  template <class T>
  T normal(uint64_t first, uint64_t i) const {
    double u1 = 1.0 - uniform<double>(first + 2 * i);  // (0, 1]: log(u1) is finite
    double u2 = uniform<double>(first + 2 * i + 1);
    return static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The generator used when none is passed; lacoot::manual_seed(s) reseeds it.
inline Generator& default_generator() {
  static Generator g(0);
  return g;
}

inline void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace lacoot
