// libFuzzer target: .npy files (io/npy.hpp: parse_npy, every dtype it reads, converted to
// float32 as lacoot run reads its input), and the round trip of what it accepts.
#include "fuzz.hpp"
#include "lacoot/io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace lacoot;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::survive([&] { parse_npy(bytes, "fuzz.npy", kFloat32); });
  return fuzz::survive([&] {
    const Tensor t = parse_npy(bytes, "fuzz.npy");
    const Tensor u = parse_npy(serialize_npy(t), "round trip");
    if (u.shape() != t.shape() || u.dtype() != t.dtype()) __builtin_trap();
  });
}
