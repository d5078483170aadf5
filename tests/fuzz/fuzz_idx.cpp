// libFuzzer target: IDX files, plain or gzipped, through the loaders' entry points
// (data_loaders/idx.hpp: load_idx, load_idx_images, load_idx_labels; gzip_file.hpp: gunzip).
#include "data_loaders/idx.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static lacoot::fuzz::TempFile file("-idx");
  const auto& path = file.write(data, size);
  lacoot::fuzz::survive([&] { lacoot::data::load_idx(path); });
  lacoot::fuzz::survive([&] { lacoot::data::load_idx_images(path); });
  return lacoot::fuzz::survive([&] { lacoot::data::load_idx_labels(path, 10); });
}
