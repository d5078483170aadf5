// lacoot/backend/cuda/runtime.hpp — the CUDA runtime as lacoot uses it: checked calls,
// devices, one stream per device, events.
//
// Holds: LACOOT_CUDA_CHECK (a failed call becomes a lacoot::Error naming the call, its status
// and where), device_count / is_available / unavailable_reason (never throw: no driver and no
// device both count as zero devices), DeviceGuard, stream(device), synchronize, Event.
// Needs: the CUDA runtime API (plain C++: cuda_runtime_api.h and libcudart, no nvcc).
// Leaves out: memory (allocator.hpp), copies (copy.hpp), kernels (kernels.hpp).
//
// Every op of a device runs on lacoot's one stream for that device, in the order the host
// issued it, so a block freed by one op and taken by the next is never used by two kernels at
// once; a copy to the host waits for that stream, and only it (cudaStreamNonBlocking: the
// legacy default stream does not order it).
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <mutex>
#include <optional>
#include <string>

#include "../../core/error.hpp"

namespace lacoot::cuda {

inline constexpr int kMaxDevices = 64;

namespace detail {
[[noreturn]] inline void fail(cudaError_t status, const char* call, const char* file, int line) {
  cudaGetLastError();  // clears a non-sticky error so that later calls do not report it again
  throw Error(lacoot::detail::concat(call, " failed: ", cudaGetErrorName(status), " (",
                                     cudaGetErrorString(status), ") at ", file, ":", line));
}
}  // namespace detail

}  // namespace lacoot::cuda

// LACOOT_CUDA_CHECK(cudaMemcpyAsync(...)) throws lacoot::Error naming the call and its status
// ("cudaMalloc(&p, bytes) failed: cudaErrorMemoryAllocation (out of memory) at ...").
#define LACOOT_CUDA_CHECK(call)                                                          \
  do {                                                                                   \
    const cudaError_t lacoot_status_ = (call);                                           \
    if (lacoot_status_ != cudaSuccess)                                                   \
      ::lacoot::cuda::detail::fail(lacoot_status_, #call, __FILE__, __LINE__);           \
  } while (0)

namespace lacoot::cuda {

namespace detail {
struct DeviceCount {
  int count = 0;
  std::string reason;  // why there are none, when there are none
};
inline const DeviceCount& probed_devices() {
  static const DeviceCount probed = [] {
    DeviceCount d;
    const cudaError_t status = cudaGetDeviceCount(&d.count);
    if (status != cudaSuccess) {
      cudaGetLastError();
      d.count = 0;
      d.reason = lacoot::detail::concat("cudaGetDeviceCount: ", cudaGetErrorName(status), " (",
                                        cudaGetErrorString(status), ")");
    } else if (d.count == 0) {
      d.reason = "cudaGetDeviceCount found no device";
    }
    return d;
  }();
  return probed;
}
}  // namespace detail

// The number of CUDA devices this process can use: 0 without a driver or without a device.
inline int device_count() { return detail::probed_devices().count; }
inline bool is_available() { return device_count() > 0; }
// Why device_count() is 0 ("cudaGetDeviceCount: cudaErrorNoDevice (...)"); empty otherwise.
inline const std::string& unavailable_reason() { return detail::probed_devices().reason; }

// Throws unless cuda:index exists, naming what there is.
inline void check_device(int index) {
  LACOOT_CHECK(is_available(), "cuda:", index, " is not available: ", unavailable_reason());
  LACOOT_CHECK(index >= 0 && index < device_count(), "cuda:", index, " does not exist: this machine has ",
               device_count(), " CUDA device(s), cuda:0 to cuda:", device_count() - 1);
}

// Makes `index` the current device for the guard's lifetime (cudaSetDevice), then restores.
class DeviceGuard {
 public:
  explicit DeviceGuard(int index) {
    LACOOT_CUDA_CHECK(cudaGetDevice(&previous_));
    if (index != previous_) LACOOT_CUDA_CHECK(cudaSetDevice(index));
  }
  ~DeviceGuard() {
    int now = previous_;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

namespace detail {
// lacoot's streams, one per device, made on first use and kept for the life of the process.
struct StreamTable {
  std::array<cudaStream_t, kMaxDevices> streams{};
  std::mutex mutex;
};
inline StreamTable& stream_table() {
  static StreamTable table;
  return table;
}
}  // namespace detail

// lacoot's stream on cuda:index.
inline cudaStream_t stream(int index) {
  check_device(index);
  detail::StreamTable& table = detail::stream_table();
  std::lock_guard<std::mutex> lock(table.mutex);
  cudaStream_t& s = table.streams[static_cast<std::size_t>(index)];
  if (s == nullptr) {
    DeviceGuard guard(index);
    LACOOT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  }
  return s;
}

// The device whose lacoot stream `s` is; -1 for any other stream.
inline int device_of(cudaStream_t s) {
  if (s == nullptr) return -1;
  detail::StreamTable& table = detail::stream_table();
  std::lock_guard<std::mutex> lock(table.mutex);
  for (std::size_t i = 0; i < table.streams.size(); ++i)
    if (table.streams[i] == s) return static_cast<int>(i);
  return -1;
}

// A DeviceGuard for the device of stream `s` (none for a stream not lacoot's: the caller's
// current device stays). CUDA launches a kernel only into a stream of the current device, so
// every function that launches into a stream it is given starts with one: an op on cuda:1 then
// runs whichever device the thread has current.
class StreamDeviceGuard {
 public:
  explicit StreamDeviceGuard(cudaStream_t s) {
    if (const int index = device_of(s); index >= 0) guard_.emplace(index);
  }

 private:
  std::optional<DeviceGuard> guard_;
};

// Waits until everything issued on cuda:index's stream has finished (and reports a kernel's
// failure, which CUDA only reports asynchronously, here).
inline void synchronize(int index) { LACOOT_CUDA_CHECK(cudaStreamSynchronize(stream(index))); }

// A point in a device's stream, for timing: elapsed_ms(start, end) as torch.cuda.Event.
class Event {
 public:
  explicit Event(int index) : device_(index) {
    DeviceGuard guard(index);
    LACOOT_CUDA_CHECK(cudaEventCreate(&event_));
  }
  ~Event() {
    if (event_ != nullptr) cudaEventDestroy(event_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record() { LACOOT_CUDA_CHECK(cudaEventRecord(event_, stream(device_))); }
  void synchronize() const { LACOOT_CUDA_CHECK(cudaEventSynchronize(event_)); }
  // Milliseconds from `start` to `end`, both recorded; waits for `end`.
  static float elapsed_ms(const Event& start, const Event& end) {
    end.synchronize();
    float ms = 0.0f;
    LACOOT_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, end.event_));
    return ms;
  }

 private:
  int device_;
  cudaEvent_t event_ = nullptr;
};

}  // namespace lacoot::cuda
