// data_loaders/data_loaders.hpp — every dataset reader, transform and the loader, in reading order.
//
// Holds nothing of its own. Needs lacoot/core, zlib and stb_image (lacoot_data_dep brings all
// three). Each header below can also be included alone.
//
//   using namespace lacoot::data;
//   auto all = std::make_shared<ImageDataset>(cifar10("/data/cifar-10-batches-bin", true));
//   auto split = random_split(all, {45000, 5000}, 0);  // train, val (spec §4)
//   DataLoaderOptions opt{.batch_size = 128, .shuffle = true, .num_workers = 4};
//   opt.transform = Compose{RandomHorizontalFlip{0.5}, RandomCrop{32, 4},
//                           Normalize{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}};
//   DataLoader loader(split[0], opt);
//   for (Batch& b : loader) { /* b.images [128, 3, 32, 32] float32, b.labels [128] int64 */ }
#pragma once

#include "gzip_file.hpp"      // defines: read_file (gunzips transparently), gunzip
#include "image.hpp"          // defines: Image (float CHW), image_from_hwc/chw (ToTensor), to_tensor
#include "dataset.hpp"        // defines: Example, Dataset, ImageDataset, Subset
#include "idx.hpp"            // defines: load_idx*, fashion_mnist, mnist
#include "cifar.hpp"          // defines: cifar10, cifar100
#include "image_folder.hpp"   // defines: decode_image, ImageFolder
#include "tiny_imagenet.hpp"  // defines: tiny_imagenet
#include "transforms.hpp"     // defines: RandomStream, Compose, Normalize, flips, Pad, RandomCrop, CenterCrop
#include "resize.hpp"         // defines: resize, rotate, Resize, RandomResizedCrop, RandomRotation
#include "color_jitter.hpp"   // defines: adjust_brightness/contrast/saturation/hue, ColorJitter
#include "loader.hpp"         // defines: random_split, Batch, DataLoaderOptions, DataLoader
