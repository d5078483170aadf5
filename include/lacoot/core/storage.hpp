// lacoot/core/storage.hpp — the memory a tensor's elements live in.
//
// Holds: Storage, a block of bytes on one device, 64-byte aligned on the CPU so that AVX-512
// loads of a row start on a cache line. Tensors share a Storage through shared_ptr: a view
// (reshape, detach) costs a handle, not a copy.
// Needs: error.hpp, device.hpp.
// Leaves out: the CUDA caching allocator (backend/cuda, a later layer).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>

#include "device.hpp"
#include "error.hpp"

namespace lacoot {

inline constexpr std::size_t kAlignment = 64;

class Storage {
 public:
  Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
    LACOOT_CHECK(device.is_cpu(), "Storage: device ", device.str(),
                 " is not available in this build (only cpu)");
    // aligned_alloc wants a size that is a multiple of the alignment; never ask for 0 bytes.
    std::size_t padded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    data_ = std::aligned_alloc(kAlignment, padded == 0 ? kAlignment : padded);
    LACOOT_CHECK(data_ != nullptr, "Storage: out of memory allocating ", nbytes,
                 " bytes on ", device.str(), " (hint: lower the batch size)");
  }
  ~Storage() { std::free(data_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
};

}  // namespace lacoot
