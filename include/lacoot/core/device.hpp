// lacoot/core/device.hpp — where a tensor's storage lives.
//
// Holds: Device {type, index}, printed and parsed as PyTorch writes it: "cpu", "cuda", "cuda:1".
// Needs: error.hpp.
// Leaves out: whether a device is there (core/device_ops.hpp: resolve_device) and the CUDA
// backend itself (backend/cuda/); every op dispatches on tensor.device().type.
#pragma once

#include <string>

#include "error.hpp"

namespace lacoot {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  friend bool operator==(const Device&, const Device&) = default;

  // "cpu", "cuda" (cuda:0) or "cuda:N".
  static Device parse(const std::string& spec) {
    if (spec == "cpu") return {DeviceType::CPU, 0};
    if (spec == "cuda") return {DeviceType::CUDA, 0};
    if (spec.rfind("cuda:", 0) == 0 && spec.size() > 5 && spec.size() <= 8 &&
        spec.find_first_not_of("0123456789", 5) == std::string::npos)
      return {DeviceType::CUDA, std::stoi(spec.substr(5))};
    throw Error(detail::concat("device \"", spec, "\": expected cpu, cuda or cuda:N"));
  }
};

inline const Device kCPU{DeviceType::CPU, 0};
inline const Device kCUDA{DeviceType::CUDA, 0};

}  // namespace lacoot
