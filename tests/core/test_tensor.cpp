// Tests for core/: tensor handle, storage and its cache of large blocks, pinned memory, factories,
// RNG, printing.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "lacoot/core/device_ops.hpp"
#include "lacoot/core/factories.hpp"
#include "lacoot/core/print.hpp"

using namespace lacoot;

TEST_CASE("a tensor is a cheap handle: copies share the elements") {
  Tensor a = zeros({2, 3});
  Tensor b = a;
  b.at<float>({1, 2}) = 5.f;
  CHECK(a.at<float>({1, 2}) == 5.f);
  CHECK(a.is_same(b));
  Tensor c = a.clone();
  c.at<float>({1, 2}) = 7.f;
  CHECK(a.at<float>({1, 2}) == 5.f);  // clone owns its elements
  CHECK(a.shape() == Shape{2, 3});
  CHECK(a.numel() == 6);
  CHECK(a.dim() == 2);
  CHECK(a.size(-1) == 3);
  CHECK(a.dtype() == kFloat32);
  CHECK(a.device().str() == "cpu");
}

TEST_CASE("storage is aligned for SIMD") {
  for (int n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::empty({n});
    CHECK(reinterpret_cast<std::uintptr_t>(t.raw_data()) % kAlignment == 0);
  }
}

TEST_CASE("the cache of large CPU blocks: reuse, best fit within a quarter, the limit, emptying") {
  const std::size_t before = cpu_cache_stats().limit_bytes;
  set_cpu_cache_limit(std::size_t{64} << 20);
  empty_cpu_cache();
  const std::size_t mib = std::size_t{1} << 20;
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({static_cast<int64_t>(2 * mib / 4)});  // 2 MiB of float32
    first = t.raw_data();
  }
  CHECK(cpu_cache_stats().cached_bytes == 2 * mib);
  CpuCacheStats s0 = cpu_cache_stats();
  {
    // Larger than the block by more than a quarter: not served by it.
    Tensor big = Tensor::empty({static_cast<int64_t>(3 * mib / 4)});
    CHECK(big.raw_data() != first);
    CHECK(cpu_cache_stats().misses == s0.misses + 1);
    // Within a quarter, smaller or equal: the same block again, aligned, of any dtype.
    Tensor again = Tensor::empty({static_cast<int64_t>(2 * mib / 8 - 1000)}, kFloat64);
    CHECK(again.raw_data() == first);
    CHECK(reinterpret_cast<std::uintptr_t>(again.raw_data()) % kAlignment == 0);
    CHECK(cpu_cache_stats().hits == s0.hits + 1);
    CHECK(cpu_cache_stats().cached_bytes == 0);
  }
  CHECK(cpu_cache_stats().cached_bytes == 5 * mib);  // both blocks came back
  // Small blocks are not cached.
  { Tensor small = Tensor::empty({1000}); }
  CHECK(cpu_cache_stats().cached_bytes == 5 * mib);
  // Lowering the limit below what is held frees it; past the limit a block is freed, not kept.
  set_cpu_cache_limit(4 * mib);
  CHECK(cpu_cache_stats().cached_bytes == 0);
  { Tensor t = Tensor::empty({static_cast<int64_t>(5 * mib / 4)}); }
  CHECK(cpu_cache_stats().cached_bytes == 0);
  { Tensor t = Tensor::empty({static_cast<int64_t>(3 * mib / 4)}); }
  CHECK(cpu_cache_stats().cached_bytes == 3 * mib);
  empty_cpu_cache();
  CHECK(cpu_cache_stats().cached_bytes == 0);
  set_cpu_cache_limit(0);  // off
  { Tensor t = Tensor::empty({static_cast<int64_t>(3 * mib / 4)}); }
  CHECK(cpu_cache_stats().cached_bytes == 0);
  set_cpu_cache_limit(before);
}

// BlockCache's rules on a fake device whose memory is an ordinary heap with a budget, so that
// they are checked on every machine (the CUDA allocator is this cache over cudaMalloc).
TEST_CASE("BlockCache: best fit within a quarter, in-use and peak counts, emptied and retried when the device is full") {
  std::size_t device_used = 0, budget = 1000, raw_allocs = 0, raw_frees = 0;
  std::map<void*, std::size_t> live;
  detail::BlockCache cache(
      [&](std::size_t bytes) -> void* {
        if (device_used + bytes > budget) return nullptr;
        ++raw_allocs;
        device_used += bytes;
        void* p = std::malloc(bytes);
        live[p] = bytes;
        return p;
      },
      [&](void* p) {
        ++raw_frees;
        device_used -= live.at(p);
        live.erase(p);
        std::free(p);
      },
      0, std::size_t(-1));
  std::size_t cap = 0;
  void* a = cache.allocate(400, cap);
  CHECK(cap == 400);
  void* b = cache.allocate(100, cap);
  CHECK(cache.stats().in_use_bytes == 500);
  cache.release(a, 400);
  cache.release(b, 100);
  CHECK(cache.stats().in_use_bytes == 0);
  CHECK(cache.stats().peak_in_use_bytes == 500);
  CHECK(cache.stats().cached_bytes == 500);
  CHECK(raw_frees == 0);
  // 90 fits the 100-byte block (at most a quarter larger).
  void* c = cache.allocate(90, cap);
  CHECK(c == b);
  CHECK(cap == 100);
  CHECK(cache.stats().hits == 1);
  // 600 more bytes do not fit the budget beside the cached 400 and the 100 in use: the cache
  // gives its block back and the device is asked again.
  void* d = cache.allocate(600, cap);
  REQUIRE(d != nullptr);
  CHECK(raw_frees == 1);
  CHECK(cache.stats().cached_bytes == 0);
  CHECK(cache.stats().peak_in_use_bytes == 700);
  // Nothing left to give back: the request fails (Storage turns it into an error).
  CHECK(cache.allocate(500, cap) == nullptr);
  cache.release(c, 100);
  cache.release(d, 600);
  cache.reset_peak();
  CHECK(cache.stats().peak_in_use_bytes == 0);
  cache.set_limit(650);  // the 700 cached bytes are more than the new limit: all go back
  CHECK(cache.stats().cached_bytes == 0);
  CHECK(device_used == 0);
  CHECK(raw_allocs == raw_frees);
}

TEST_CASE("devices: parsed as PyTorch writes them; a missing CUDA device is an error, or the CPU with one notice") {
  CHECK(Device::parse("cpu") == kCPU);
  CHECK(Device::parse("cuda") == kCUDA);
  CHECK(Device::parse("cuda:3").index == 3);
  CHECK(Device::parse("cuda:3").str() == "cuda:3");
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "cuda:123456789"})
    CHECK_THROWS_WITH_AS(Device::parse(bad), doctest::Contains("expected cpu, cuda or cuda:N"), Error);
  std::ostringstream notice;
  CHECK(resolve_device(kCPU, notice) == kCPU);
  CHECK(notice.str().empty());
  if (cuda_device_count() == 0) {
    // No GPU here (or no CUDA in this build): asking for one is a clear error for a tensor,
    // and the CPU, said once, for a program choosing where to run.
    CHECK_THROWS_WITH_AS(Tensor::empty({2}, kFloat32, kCUDA), doctest::Contains("cuda:0"), Error);
    CHECK_THROWS_WITH_AS(zeros({2}).to(kCUDA), doctest::Contains("cuda:0"), Error);
    CHECK(resolve_device(kCUDA, notice) == kCPU);
    CHECK(notice.str().find("running on the CPU") != std::string::npos);
    const std::size_t once = notice.str().size();
    CHECK(resolve_device(Device::parse("cuda:1"), notice) == kCPU);
    CHECK(notice.str().size() == once);
  }
}

TEST_CASE("pinned memory: CPU tensors only, a GPU needed; ordinary tensors are not pinned") {
  CHECK(!zeros({3}).is_pinned());
  CHECK_THROWS_WITH_AS(Tensor::empty({2}, kFloat32, kCUDA, /*pin_memory=*/true),
                       doctest::Contains("only CPU memory can be pinned"), Error);
  if (cuda_device_count() == 0) {
    // Without a GPU (or without the CUDA backend) pinning is an error that says which is missing.
#if LACOOT_WITH_CUDA
    const char* why = "there is none here";
#else
    const char* why = "no CUDA backend";
#endif
    CHECK_THROWS_WITH_AS(ones({4}).pin_memory(), doctest::Contains(why), Error);
    CHECK_THROWS_WITH_AS(Tensor::empty({4}, kFloat32, kCPU, true), doctest::Contains("pin_memory"), Error);
    return;
  }
  // With a GPU: a pinned copy holds the same values; pinning it again is the tensor itself.
  Tensor x = arange(0, 6);
  Tensor p = x.pin_memory();
  CHECK(p.is_pinned());
  CHECK(std::memcmp(p.raw_data(), x.raw_data(), x.nbytes()) == 0);
  CHECK(p.pin_memory().raw_data() == p.raw_data());
}

TEST_CASE("factories") {
  CHECK(ones({2, 2}).at<float>({1, 1}) == 1.f);
  CHECK(full({3}, 2.5, kFloat64).at<double>({2}) == 2.5);
  Tensor r = arange(1, 2, 0.25);  // [1, 1.25, 1.5, 1.75], as torch.arange
  REQUIRE(r.numel() == 4);
  CHECK(r.at<float>({3}) == 1.75f);
  CHECK(arange(5, kInt64).at<int64_t>({4}) == 4);
  Tensor m = tensor({{1, 2, 3}, {4, 5, 6}});
  CHECK(m.shape() == Shape{2, 3});
  CHECK(m.at<float>({1, 0}) == 4.f);
  CHECK(m.at<float>({-1, -1}) == 6.f);  // negative indices count from the end
  Tensor v = tensor(std::vector<int64_t>{1, 2, 3, 4}, {2, 2});
  CHECK(v.dtype() == kInt64);
  CHECK_THROWS_AS(tensor(std::vector<float>{1, 2, 3}, {2, 2}), Error);
  CHECK_THROWS_AS(tensor({{1, 2}, {3}}), Error);
  CHECK_THROWS_AS(zeros({-1}), Error);
  CHECK_THROWS_AS(arange(0, 1, 0), Error);
}

TEST_CASE("item, to, element access errors") {
  Tensor t = tensor({3.5});
  CHECK(t.item() == 3.5);
  CHECK(t.item<int>() == 3);
  CHECK_THROWS_AS(tensor({1, 2}).item(), Error);
  Tensor d = tensor({1.25, -2.75}).to(kFloat64);
  CHECK(d.dtype() == kFloat64);
  CHECK(d.at<double>({1}) == -2.75);
  Tensor i = d.to(kInt64);  // truncation toward zero, as a C++ cast and torch's .long()
  CHECK(i.at<int64_t>({0}) == 1);
  CHECK(i.at<int64_t>({1}) == -2);
  // NaN and values beyond int64 are undefined for a C++ cast: 0 and saturation, on both devices.
  const double inf = std::numeric_limits<double>::infinity();
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor odd = tensor({std::nan(""), inf, -inf, 1e30, -1e30, -9223372036854775808.0}).to(dt).to(kInt64);
    const int64_t* o = odd.data<int64_t>();
    CHECK(o[0] == 0);
    CHECK(o[1] == INT64_MAX);
    CHECK(o[2] == INT64_MIN);
    CHECK(o[3] == INT64_MAX);
    CHECK(o[4] == INT64_MIN);
    CHECK(o[5] == INT64_MIN);
  }
  CHECK(full({}, std::nan(""), kInt64).item<int64_t>() == 0);
  CHECK_THROWS_AS(d.at<float>({0}), Error);  // wrong element type
  CHECK_THROWS_AS(d.at<double>({2}), Error);  // out of range
  CHECK_THROWS_AS(d.at<double>({0, 0}), Error);  // wrong number of indices
  CHECK_THROWS_AS(Tensor().shape(), Error);
}

TEST_CASE("rand and randn are reproducible and independent of the thread count") {
  Generator g1(42), g2(42);
  Tensor a = randn({1 << 17}, kFloat32, g1);
  set_num_threads(1);
  Tensor b = randn({1 << 17}, kFloat32, g2);
  set_num_threads(2);
  for (int64_t i = 0; i < a.numel(); i += 997) CHECK(a.data<float>()[i] == b.data<float>()[i]);
  // The stream continues: the next draw differs from the first.
  Tensor c = randn({4}, kFloat32, g1);
  CHECK(c.at<float>({0}) != a.at<float>({0}));
  // Moments of 2^17 normals: mean 0 ± 0.01, variance 1 ± 0.02 (5 standard errors).
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    s += a.data<float>()[i];
    s2 += double(a.data<float>()[i]) * a.data<float>()[i];
  }
  double mean = s / double(a.numel()), var = s2 / double(a.numel()) - mean * mean;
  CHECK(std::abs(mean) < 0.01);
  CHECK(std::abs(var - 1) < 0.02);
  Tensor u = rand({1 << 16}, kFloat64, g1);
  double lo = 1, hi = 0, su = 0;
  for (int64_t i = 0; i < u.numel(); ++i) {
    double x = u.data<double>()[i];
    lo = std::min(lo, x), hi = std::max(hi, x), su += x;
  }
  CHECK(lo >= 0);
  CHECK(hi < 1);
  CHECK(std::abs(su / double(u.numel()) - 0.5) < 0.006);
  // Resuming from (seed, offset) continues the same stream (what checkpoints rely on).
  Generator g3(42);
  g3.set_state(g1.seed(), g1.offset());
  CHECK(rand({3}, kFloat32, g3).at<float>({2}) == rand({3}, kFloat32, g1).at<float>({2}));
}

TEST_CASE("randperm is a permutation") {
  Generator g(3);
  Tensor p = randperm(100, g);
  std::set<int64_t> seen(p.data<int64_t>(), p.data<int64_t>() + 100);
  CHECK(seen.size() == 100);
  CHECK(*seen.begin() == 0);
  CHECK(*seen.rbegin() == 99);
}

TEST_CASE("printing in the PyTorch style") {
  CHECK(to_string(tensor({{1, 2.5}, {3, 4}})) ==
        "tensor([[1.0000, 2.5000],\n"
        "        [3.0000, 4.0000]], shape=[2, 2], dtype=float32, device=cpu)");
  CHECK(to_string(tensor({1, -2, 3})) == "tensor([ 1., -2.,  3.], shape=[3], dtype=float32, device=cpu)");
  CHECK(to_string(arange(3, kInt64)) == "tensor([0, 1, 2], shape=[3], dtype=int64, device=cpu)");
  CHECK(to_string(full({}, 1e-5, kFloat64)) == "tensor(1.0000e-05, shape=[], dtype=float64, device=cpu)");
  std::string big = to_string(zeros({2000}));
  CHECK(big.find("0., 0., 0., ..., 0., 0., 0.") != std::string::npos);
  Tensor w = ones({2});
  w.requires_grad_();
  CHECK(to_string(w).find("requires_grad=True") != std::string::npos);
}
