// libFuzzer target: CIFAR-10 and CIFAR-100 binary batch files (data_loaders/cifar.hpp), after
// gunzip when the bytes are gzip data, as data::read_file reads them.
#include "data_loaders/cifar.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace lacoot;
  return fuzz::survive([&] {
    data::Bytes bytes(data, data + size);
    if (data::is_gzip(bytes)) bytes = data::gunzip(bytes, "fuzz.bin.gz");
    data::ImageDataset ten, hundred;
    fuzz::survive([&] { detail::append_cifar_records(ten, bytes, "data_batch_1.bin", 1, 0, 10, "CIFAR-10"); });
    detail::append_cifar_records(hundred, bytes, "train.bin", 2, 1, 100, "CIFAR-100");
  });
}
