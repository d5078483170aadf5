// libFuzzer target: safetensors files (io/safetensors.hpp: parse_safetensors, with its JSON
// header parser), and what a parsed file is written back as (serialize_safetensors).
#include "fuzz.hpp"
#include "lacoot/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace lacoot;
  return fuzz::survive([&] {
    const Safetensors f = parse_safetensors({reinterpret_cast<const char*>(data), size}, "fuzz.safetensors");
    // What was accepted must write back and read back the same (names, shapes, bytes).
    const std::string again = serialize_safetensors(f.tensors, f.metadata);
    const Safetensors g = parse_safetensors(again, "round trip");
    if (g.tensors.size() != f.tensors.size() || g.metadata.size() != f.metadata.size()) __builtin_trap();
  });
}
