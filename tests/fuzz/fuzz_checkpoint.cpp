// libFuzzer target: training checkpoints (train/checkpoint.hpp: a safetensors file whose
// metadata holds the run's counters, the RNG state and the optimiser's scalars).
#include "fuzz.hpp"
#include "lacoot/train/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace lacoot;
  return fuzz::survive([&] {
    train::checkpoint_from(parse_safetensors({reinterpret_cast<const char*>(data), size}, "fuzz.ckpt"), "fuzz.ckpt");
  });
}
