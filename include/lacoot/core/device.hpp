// lacoot/core/device.hpp — where a tensor's storage lives.
//
// Holds: Device {type, index}, printed "cpu" or "cuda:0" as PyTorch does.
// Needs: nothing but the standard library.
// Leaves out: the CUDA backend itself (a later layer); every op dispatches on
// tensor.device().type, so a cuda branch slots in next to the cpu one.
#pragma once

#include <string>

namespace lacoot {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  friend bool operator==(const Device&, const Device&) = default;
};

inline const Device kCPU{DeviceType::CPU, 0};

}  // namespace lacoot
