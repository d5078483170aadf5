// lacoot/backend/cuda/cudnn.hpp — 2-D convolution on the GPU through cuDNN.
//
// Holds: LACOOT_CUDNN_CHECK, cudnn_handle(device) (one handle per device, on lacoot's stream),
// ConvGeometry (every size of one conv2d call), and conv2d_forward, conv2d_backward_data and
// conv2d_backward_filter on Tensors, each with its algorithm chosen once per geometry and cached.
// Needs: runtime.hpp, blas.hpp (allow_tf32), kernels.hpp (fill), core/tensor.hpp; cuDNN 8 or 9
// (plain C++: cudnn.h and libcudnn), through its legacy convolution API (cudnn_cnn.h), which
// cuDNN 9 keeps.
// Leaves out: cudnnFind* benchmarking (PyTorch's cudnn.benchmark = True), NHWC layouts, and
// fused convolution + bias + activation.
//
// The algorithm. cudnnGetConvolution*Algorithm_v7 ranks the algorithms cuDNN has for a shape by
// its heuristics (what PyTorch does with cudnn.benchmark = False). lacoot takes the first of
// them that (1) is supported for the shape, (2) is deterministic — the backward-filter and
// backward-data algorithms that add with atomics (cuDNN's CUDNN_NON_DETERMINISTIC) give
// different bits run to run, and lacoot's results are reproducible on every device — and
// (3) needs at most kMaxWorkspace bytes of workspace; if none qualifies, the first supported one.
// The choice is kept per (device, direction, dtype, math mode, geometry), so each layer's shape
// is decided once. The workspace is an ordinary tensor from the caching allocator, freed (back
// to the cache) when the call returns: cuDNN uses it on lacoot's stream, in order.
//
// TF32. On Ampere and later cuDNN may run float32 convolutions on tensor cores in TF32 (inputs
// rounded to 10 mantissa bits) under CUDNN_DEFAULT_MATH; lacoot asks for CUDNN_FMA_MATH (no
// tensor cores, float32 throughout) unless set_allow_tf32(true), the same switch as matmul's.
#pragma once

#include <cudnn.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../../core/tensor.hpp"
#include "kernels.hpp"
#include "blas.hpp"
#include "runtime.hpp"

namespace lacoot::cuda {

namespace detail {
[[noreturn]] inline void fail_cudnn(cudnnStatus_t status, const char* call, const char* file, int line) {
  throw Error(lacoot::detail::concat(call, " failed: ", cudnnGetErrorString(status), " at ", file, ":", line));
}
}  // namespace detail

}  // namespace lacoot::cuda

// LACOOT_CUDNN_CHECK(cudnnConvolutionForward(...)) throws lacoot::Error naming the call and its
// status ("... failed: CUDNN_STATUS_BAD_PARAM at ...").
#define LACOOT_CUDNN_CHECK(call)                                                       \
  do {                                                                                 \
    const cudnnStatus_t lacoot_status_ = (call);                                       \
    if (lacoot_status_ != CUDNN_STATUS_SUCCESS)                                        \
      ::lacoot::cuda::detail::fail_cudnn(lacoot_status_, #call, __FILE__, __LINE__);   \
  } while (0)

namespace lacoot::cuda {

// cuda:index's cuDNN handle, made on first use, on lacoot's stream for that device.
inline cudnnHandle_t cudnn_handle(int index) {
  cudaStream_t s = stream(index);  // checks the device
  static std::array<cudnnHandle_t, kMaxDevices> handles{};
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  cudnnHandle_t& h = handles[static_cast<std::size_t>(index)];
  if (h == nullptr) {
    DeviceGuard guard(index);
    LACOOT_CUDNN_CHECK(cudnnCreate(&h));
    LACOOT_CUDNN_CHECK(cudnnSetStream(h, s));
  }
  return h;
}

// One conv2d call's sizes, with PyTorch's meanings (ops/conv.hpp): input [N, C, H, W], weight
// [O, C / groups, kh, kw], output [N, O, Ho, Wo], stride (sh, sw), padding (ph, pw), dilation
// (dh, dw).
struct ConvGeometry {
  int64_t N = 0, C = 0, H = 0, W = 0, O = 0, kh = 0, kw = 0, Ho = 0, Wo = 0;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
};

namespace detail {

inline int cudnn_int(int64_t v, const char* what) {
  LACOOT_CHECK(v >= 0 && v <= INT32_MAX, "cuDNN conv2d: ", what, " = ", v, " does not fit cuDNN's int");
  return static_cast<int>(v);
}

inline cudnnDataType_t cudnn_type(DType dtype) {
  LACOOT_CHECK(dtype == kFloat32 || dtype == kFloat64, "cuDNN conv2d: expected float32 or float64, got ",
               dtype_name(dtype));
  return dtype == kFloat32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

// The descriptors of one call, made and destroyed with it (host-side objects, cheap).
class ConvDescriptors {
 public:
  ConvDescriptors(const ConvGeometry& g, DType dtype) {
    // The legacy API indexes a tensor with 32-bit integers (PyTorch splits such batches).
    const int64_t in = g.N * g.C * g.H * g.W, out = g.N * g.O * g.Ho * g.Wo, limit = INT32_MAX;
    LACOOT_CHECK(in <= limit && out <= limit, "cuDNN conv2d: the input has ", in, " elements and the output ", out,
                 "; cuDNN takes at most 2^31 - 1 per tensor (split the batch)");
    const cudnnDataType_t t = cudnn_type(dtype);
    LACOOT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    LACOOT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    LACOOT_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    LACOOT_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    LACOOT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, t, cudnn_int(g.N, "N"), cudnn_int(g.C, "C"),
                                                  cudnn_int(g.H, "H"), cudnn_int(g.W, "W")));
    LACOOT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, t, cudnn_int(g.N, "N"), cudnn_int(g.O, "O"),
                                                  cudnn_int(g.Ho, "H_out"), cudnn_int(g.Wo, "W_out")));
    LACOOT_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, t, CUDNN_TENSOR_NCHW, cudnn_int(g.O, "O"),
                                                  cudnn_int(g.C / g.groups, "C / groups"), cudnn_int(g.kh, "kH"),
                                                  cudnn_int(g.kw, "kW")));
    LACOOT_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, cudnn_int(g.ph, "padding"), cudnn_int(g.pw, "padding"),
                                                       cudnn_int(g.sh, "stride"), cudnn_int(g.sw, "stride"),
                                                       cudnn_int(g.dh, "dilation"), cudnn_int(g.dw, "dilation"),
                                                       CUDNN_CROSS_CORRELATION, t));
    LACOOT_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, cudnn_int(g.groups, "groups")));
    math = dtype == kFloat32 && !allow_tf32() ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
    LACOOT_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
  }
  ~ConvDescriptors() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  ConvDescriptors(const ConvDescriptors&) = delete;
  ConvDescriptors& operator=(const ConvDescriptors&) = delete;

  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

inline constexpr std::size_t kMaxWorkspace = std::size_t{1} << 30;  // 1 GiB

// An algorithm, the math type the heuristics ranked it with, and the workspace bytes it needs.
struct ConvAlgo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  std::size_t workspace = 0;
};

// The cache of chosen algorithms, keyed by everything that decides them.
inline std::string algo_key(const char* direction, int device, DType dtype, cudnnMathType_t math,
                            const ConvGeometry& g) {
  return lacoot::detail::concat(direction, ' ', device, ' ', dtype_name(dtype), ' ', static_cast<int>(math), ' ', g.N,
                                ' ', g.C, ' ', g.H, ' ', g.W, ' ', g.O, ' ', g.kh, ' ', g.kw, ' ', g.sh, ' ', g.sw,
                                ' ', g.ph, ' ', g.pw, ' ', g.dh, ' ', g.dw, ' ', g.groups);
}

// The cached choice for key, or choose(perf list) stored under it. Perf is one of cuDNN's
// *AlgoPerf_t structs; rank(perf, max, &count) fills the heuristics' ranked list.
template <class Perf, class Rank>
ConvAlgo cached_algo(const std::string& key, Rank rank) {
  static std::unordered_map<std::string, ConvAlgo> cache;
  static std::mutex mutex;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  std::array<Perf, 16> perf{};
  int count = 0;
  rank(perf.data(), static_cast<int>(perf.size()), &count);
  const Perf* pick = nullptr;
  for (int i = 0; i < count && !pick; ++i)
    if (perf[static_cast<std::size_t>(i)].status == CUDNN_STATUS_SUCCESS &&
        perf[static_cast<std::size_t>(i)].determinism == CUDNN_DETERMINISTIC &&
        perf[static_cast<std::size_t>(i)].memory <= kMaxWorkspace)
      pick = &perf[static_cast<std::size_t>(i)];
  for (int i = 0; i < count && !pick; ++i)
    if (perf[static_cast<std::size_t>(i)].status == CUDNN_STATUS_SUCCESS) pick = &perf[static_cast<std::size_t>(i)];
  LACOOT_CHECK(pick != nullptr, "cuDNN conv2d: no algorithm supports this convolution (", key, ")");
  const ConvAlgo chosen{static_cast<int>(pick->algo), pick->mathType, pick->memory};
  std::lock_guard<std::mutex> lock(mutex);
  cache.emplace(key, chosen);
  return chosen;
}

// The math type the chosen algorithm was ranked with (the workspace is sized for that pair);
// but float32 without TF32 stays on FMA, whatever an entry says.
inline void use_math(ConvDescriptors& d, const ConvAlgo& a) {
  if (a.math == d.math || d.math == CUDNN_FMA_MATH) return;
  LACOOT_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, a.math));
  d.math = a.math;
}

// cuDNN refuses tensors with a dimension of 0. With nothing to compute, or a sum over nothing
// (no input channels, no images for the filter's gradient), the result is empty or zero, as on
// the CPU: true when it was handled here.
inline bool empty_convolution(const Tensor& out, bool sums_over_nothing) {
  if (out.numel() == 0) return true;
  if (!sums_over_nothing) return false;
  kernels::fill(out.raw_data(), out.dtype(), out.numel(), 0.0, stream(out.device().index));
  return true;
}

// Device memory for a workspace of `bytes` from the caching allocator (null for none).
inline Tensor workspace(std::size_t bytes, Device device) {
  if (bytes == 0) return Tensor();
  return Tensor::empty({static_cast<int64_t>((bytes + 7) / 8)}, kInt64, device);
}

// alpha = 1, beta = 0 in the data type's own precision, as cuDNN reads them.
struct Scalars {
  double d1 = 1, d0 = 0;
  float f1 = 1, f0 = 0;
  const void* one(DType t) const { return t == kFloat64 ? static_cast<const void*>(&d1) : &f1; }
  const void* zero(DType t) const { return t == kFloat64 ? static_cast<const void*>(&d0) : &f0; }
};

}  // namespace detail

// y = conv2d(x, w) (no bias); x [N, C, H, W], w, y contiguous on one device.
inline void conv2d_forward(const Tensor& x, const Tensor& w, const ConvGeometry& g, const Tensor& y) {
  if (detail::empty_convolution(y, x.numel() == 0 || w.numel() == 0)) return;
  const int dev = x.device().index;
  DeviceGuard guard(dev);  // cuDNN runs on the current device
  cudnnHandle_t h = cudnn_handle(dev);
  detail::ConvDescriptors d(g, x.dtype());
  const detail::ConvAlgo a = detail::cached_algo<cudnnConvolutionFwdAlgoPerf_t>(
      detail::algo_key("fwd", dev, x.dtype(), d.math, g), [&](cudnnConvolutionFwdAlgoPerf_t* p, int n, int* count) {
        LACOOT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, n, count, p));
      });
  Tensor ws = detail::workspace(a.workspace, x.device());
  detail::use_math(d, a);
  const detail::Scalars s;
  LACOOT_CUDNN_CHECK(cudnnConvolutionForward(h, s.one(x.dtype()), d.x, x.raw_data(), d.w, w.raw_data(), d.conv,
                                             static_cast<cudnnConvolutionFwdAlgo_t>(a.algo),
                                             ws.defined() ? ws.raw_data() : nullptr, a.workspace,
                                             s.zero(x.dtype()), d.y, y.raw_data()));
}

// dx = the gradient for the input, from dy and w.
inline void conv2d_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g, const Tensor& dx) {
  if (detail::empty_convolution(dx, dy.numel() == 0 || w.numel() == 0)) return;
  const int dev = dy.device().index;
  DeviceGuard guard(dev);  // cuDNN runs on the current device
  cudnnHandle_t h = cudnn_handle(dev);
  detail::ConvDescriptors d(g, dy.dtype());
  const detail::ConvAlgo a = detail::cached_algo<cudnnConvolutionBwdDataAlgoPerf_t>(
      detail::algo_key("bwd-data", dev, dy.dtype(), d.math, g),
      [&](cudnnConvolutionBwdDataAlgoPerf_t* p, int n, int* count) {
        LACOOT_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, n, count, p));
      });
  Tensor ws = detail::workspace(a.workspace, dy.device());
  detail::use_math(d, a);
  const detail::Scalars s;
  LACOOT_CUDNN_CHECK(cudnnConvolutionBackwardData(h, s.one(dy.dtype()), d.w, w.raw_data(), d.y, dy.raw_data(), d.conv,
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo),
                                                  ws.defined() ? ws.raw_data() : nullptr, a.workspace,
                                                  s.zero(dy.dtype()), d.x, dx.raw_data()));
}

// dw = the gradient for the weight, from dy and x.
inline void conv2d_backward_filter(const Tensor& dy, const Tensor& x, const ConvGeometry& g, const Tensor& dw) {
  if (detail::empty_convolution(dw, dy.numel() == 0 || x.numel() == 0)) return;
  const int dev = dy.device().index;
  DeviceGuard guard(dev);  // cuDNN runs on the current device
  cudnnHandle_t h = cudnn_handle(dev);
  detail::ConvDescriptors d(g, dy.dtype());
  const detail::ConvAlgo a = detail::cached_algo<cudnnConvolutionBwdFilterAlgoPerf_t>(
      detail::algo_key("bwd-filter", dev, dy.dtype(), d.math, g),
      [&](cudnnConvolutionBwdFilterAlgoPerf_t* p, int n, int* count) {
        LACOOT_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, n, count, p));
      });
  Tensor ws = detail::workspace(a.workspace, dy.device());
  detail::use_math(d, a);
  const detail::Scalars s;
  LACOOT_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, s.one(dy.dtype()), d.x, x.raw_data(), d.y, dy.raw_data(),
                                                    d.conv, static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo),
                                                    ws.defined() ? ws.raw_data() : nullptr, a.workspace,
                                                    s.zero(dy.dtype()), d.w, dw.raw_data()));
}

}  // namespace lacoot::cuda
