// examples/bundle.cpp — how this project's build compiles seven of the example programs at once.
//
// Not a lesson: read the examples themselves. Each of them is a whole program of its own, which
// a reader may copy out and build alone (`meson setup -Dbundles=false` builds them so).
// A header-only library is compiled again into every unit that includes it, and most of each
// example's compile was the same library code: compiled two at a time on ci-zen4, the seven took
// 9 min 1 s as seven units and take 1 min 48 s as this one. Each is in a namespace named after
// it, and each program is this unit plus tools/bundle_main.cpp, whose main calls its example's.
//
// What makes an example fit: it includes only headers named below (included here first, at file
// scope, so that its own #includes inside the namespace are no-ops), and its main ends with
// `return 0;`. dit_fashion_mnist compiles stb's PNG writer, which cannot live in a namespace, and
// so has a unit of its own.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <string>
#include <vector>

#include "common.hpp"
#include "data_loaders/splits.hpp"
#include "lacoot/io/svg_plot.hpp"
#include "lacoot/lacoot.hpp"
#include "lacoot/method/algorithm1.hpp"
#include "lacoot/nn/linear.hpp"
#include "lacoot/ops/activation.hpp"
#include "lacoot/ops/loss.hpp"
#include "lacoot/optim/adam.hpp"
#include "lacoot/ot/sliced_wasserstein.hpp"
#include "lacoot/train/args.hpp"

// clang-format off
namespace resnet18_fashion_mnist {
#include "resnet18_fashion_mnist.cpp"
}
namespace resnet18_cifar10 {
#include "resnet18_cifar10.cpp"
}
namespace mobilenetv2_cifar10 {
#include "mobilenetv2_cifar10.cpp"
}
namespace vgg16_cifar10 {
#include "vgg16_cifar10.cpp"
}
namespace resnet18_imagefolder {
#include "resnet18_imagefolder.cpp"
}
namespace ot_regularisation {
#include "ot_regularisation.cpp"
}
namespace swin_t_imagefolder {
#include "swin_t_imagefolder.cpp"
}
// clang-format on
