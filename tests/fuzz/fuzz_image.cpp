// libFuzzer target: image files through stb_image as the ImageFolder loader decodes them
// (data_loaders/image_folder.hpp: decode_image), then to a tensor. stb_image is compiled here,
// so that the fuzzer sees its branches and the sanitizers its memory accesses (this copy
// takes precedence over the shared libstb).
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#undef STB_IMAGE_IMPLEMENTATION  // image_folder.hpp includes it again, for the declarations

#include "data_loaders/image_folder.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace lacoot;
  // At most 4 Mpixels, so that one run stays short (the default limit is tested in tests/data).
  return fuzz::survive([&] { data::to_tensor(data::decode_image(data::Bytes(data, data + size), "fuzz.png", 1 << 22)); });
}
