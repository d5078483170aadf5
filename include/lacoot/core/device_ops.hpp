// lacoot/core/device_ops.hpp — the few element operations core needs on every device, and
// which device to run on.
//
// Holds: detail::copy_bytes, detail::fill, detail::cast (the CPU loop, or the CUDA kernel on
// the device's stream), cuda_device_count and resolve_device (a CUDA-enabled program on a
// machine without a GPU runs on the CPU and says so once).
// Needs: storage.hpp, dtype.hpp; when built with CUDA (LACOOT_WITH_CUDA), backend/cuda/.
#pragma once

#include <algorithm>
#include <cstring>
#include <iostream>

#include "dtype.hpp"
#include "host_device.hpp"
#include "storage.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/copy.hpp"
#include "../backend/cuda/kernels.hpp"
#endif

namespace lacoot {

namespace detail {

// Copies n bytes from src on src_device to dst on dst_device; when dst is on the CPU, the bytes
// are there on return.
inline void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n) {
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    if (n != 0) std::memmove(dst, src, n);
    return;
  }
#if LACOOT_WITH_CUDA
  cuda::copy_bytes(dst, dst_device, src, src_device, n);
#else
  no_cuda_backend("copy", dst_device.is_cpu() ? src_device : dst_device);
#endif
}

// dst[i] = value (converted to dtype) for i < n.
inline void fill(void* dst, DType dtype, int64_t n, double value, Device device) {
  if (device.is_cpu()) {
    dispatch_all(dtype, "fill", [&](auto tag) {
      using T = typename decltype(tag)::type;
      std::fill_n(static_cast<T*>(dst), n, convert<T>(value));
    });
    return;
  }
#if LACOOT_WITH_CUDA
  cuda::kernels::fill(dst, dtype, n, value, cuda::stream(device.index));
#else
  no_cuda_backend("fill", device);
#endif
}

// dst[i] = src[i] converted from src_dtype to dst_dtype, for i < n, both on `device`.
inline void cast(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n, Device device) {
  if (device.is_cpu()) {
    dispatch_all(src_dtype, "to", [&](auto src_tag) {
      using S = typename decltype(src_tag)::type;
      dispatch_all(dst_dtype, "to", [&](auto dst_tag) {
        using D = typename decltype(dst_tag)::type;
        const S* s = static_cast<const S*>(src);
        D* o = static_cast<D*>(dst);
        for (int64_t i = 0; i < n; ++i) o[i] = convert<D>(s[i]);
      });
    });
    return;
  }
#if LACOOT_WITH_CUDA
  cuda::kernels::cast(dst, dst_dtype, src, src_dtype, n, cuda::stream(device.index));
#else
  no_cuda_backend("to", device);
#endif
}

}  // namespace detail

// The number of CUDA devices this program can use (0 in a build without CUDA, without a
// driver, or without a device).
inline int cuda_device_count() {
#if LACOOT_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

// The device to run on when `requested` is asked for: itself when it is there; the CPU when a
// CUDA device was asked for and this build or this machine has none, saying so once on
// `notice` (std::cerr by default). A CUDA index past the devices present is an error.
inline Device resolve_device(Device requested, std::ostream& notice = std::cerr) {
  if (requested.is_cpu()) return requested;
  static bool said = false;
#if LACOOT_WITH_CUDA
  if (cuda::is_available()) {
    cuda::check_device(requested.index);
    return requested;
  }
  const std::string why = "no CUDA device is usable (" + cuda::unavailable_reason() + ")";
#else
  const std::string why = "this build of lacoot has no CUDA backend (configure with -Dcuda=enabled)";
#endif
  if (!said) notice << "lacoot: " << requested.str() << " was asked for, but " << why << "; running on the CPU\n";
  said = true;
  return kCPU;
}

// Waits until the work queued on `device` is done (nothing to wait for on the CPU, whose ops
// return when they are done): what a timer around GPU work must call before reading the clock.
inline void synchronize(Device device) {
  if (device.is_cpu()) return;
#if LACOOT_WITH_CUDA
  cuda::synchronize(device.index);
#else
  detail::no_cuda_backend("synchronize", device);
#endif
}

}  // namespace lacoot
