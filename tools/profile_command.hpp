// tools/profile_command.hpp — `lacoot profile`: a model's MACs, parameters and critical path
// length, dense or with blocks removed.
//
// Holds: profile_command(args), for tools/lacoot.cpp to call as
//   profile_command(Args(argc, argv, 2, {"model", "input-shape", "remove", "num-classes", "width"}, {"json"}))
// Needs: graph/profile.hpp (trace, collapse, discovery, the analyses), models/zoo.hpp, train/args.hpp.
// Leaves out: latency (measured by running the model, in `lacoot collapse`).
//
// The command line is DESIGN.md's contract:
//   lacoot profile --model M --input-shape C,H,W [--remove a,b] [--json] [--num-classes N] [--width W]
// prints MACs (conv, linear and matmul multiply-adds for one image, a bias counting one per output),
// parameters and the critical path length (conv / linear layers on the longest input→output
// path), then the removable blocks, the removable regions found in the graph whether marked or
// not (graph/discover.hpp: residual modules such as layer1.0, shape-preserving ones such as
// layer2.0.conv2, "*" where one is also a declared block) and a per-layer table; with --json, one
// JSON object with the keys macs, params, cpl, removable (and layers, and discovered: objects
// with path, kind, macs, cpl_saved, shape, entry, exit, declared) and nothing else on stdout.
// --remove takes declared blocks and discovered modules alike. The model is built
// freshly (weights do not change any of these figures). C of --input-shape is the model's number
// of input channels; --num-classes defaults to 1000 for the ImageNet models (resnet18,
// mobilenet_v2, vgg16, vgg16_bn, swin_t, the DiTs) and to 10 for the -cifar ones; for a DiT,
// C,H,W is its latent (H = W = input_size; 4,32,32 for 256-pixel images), so that
//   lacoot profile --model resnet18-cifar --input-shape 3,32,32                → 140,186,634 MACs
//   lacoot profile --model resnet18-cifar --input-shape 3,32,32 --remove layer4.1 → 121,312,266
//   lacoot profile --model resnet18-cifar --input-shape 3,32,32 --remove layer1.0 → 121,312,266 (not marked)
//   lacoot profile --model resnet18 --input-shape 3,224,224                    → 1,814,074,344
//   lacoot profile --model resnet18 --input-shape 3,64,64 --num-classes 200    → 148,148,424
//   lacoot profile --model swin_t --input-shape 3,224,224                      → 4,503,738,856
//   lacoot profile --model swin_t --input-shape 3,32,32 --num-classes 10       → 519,087,370
//   lacoot profile --model dit-xl2 --input-shape 4,32,32                       → 118,696,240,640
// (specs/architectures.md §1, §4.2, §5.1). A mistake on the command line is a train::UsageError (exit 2);
// an unknown block is a lacoot::Error listing the declared and the discovered ones (exit 1).
#pragma once

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "lacoot/graph/profile.hpp"
#include "lacoot/models/zoo.hpp"
#include "lacoot/train/args.hpp"

namespace lacoot::detail {

// "a,b,c" → {"a", "b", "c"}; an empty piece is a usage error naming the option.
inline std::vector<std::string> split_commas(const std::string& s, const std::string& option) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = s.find(',', start);
    std::string piece = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!piece.empty() && piece.front() == ' ') piece.erase(piece.begin());
    while (!piece.empty() && piece.back() == ' ') piece.pop_back();
    if (piece.empty())
      throw train::UsageError("option --" + option + " expects comma-separated values without empty entries, got \"" +
                              s + "\"");
    parts.push_back(piece);
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

// "3,32,32" → {3, 32, 32}.
inline Shape parse_input_shape(const std::string& s) {
  Shape shape;
  for (const std::string& piece : split_commas(s, "input-shape")) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(piece, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != piece.size() || v <= 0)
      throw train::UsageError("option --input-shape expects C,H,W as positive integers (e.g. 3,32,32), got \"" + s +
                              "\"");
    shape.push_back(v);
  }
  if (shape.size() != 3)
    throw train::UsageError("option --input-shape expects three sizes C,H,W (one image, no batch dim), got \"" + s +
                            "\"");
  return shape;
}

}  // namespace lacoot::detail

// `lacoot profile` (see the header comment). Returns the exit status: 0.
inline int profile_command(const lacoot::train::Args& a) {
  using namespace lacoot;
  const std::string name = a.str("model");
  const Shape chw = lacoot::detail::parse_input_shape(a.str("input-shape"));
  const std::vector<std::string> remove =
      a.has("remove") ? lacoot::detail::split_commas(a.str("remove"), "remove") : std::vector<std::string>{};

  const bool cifar = name.ends_with("-cifar");
  models::ModelOptions options;
  options.num_classes = a.integer("num-classes", cifar ? 10 : 1000);
  options.width = a.integer("width", 0);
  if (options.num_classes <= 0) throw train::UsageError("option --num-classes expects a positive integer");
  if (a.has("width") && options.width <= 0) throw train::UsageError("option --width expects a positive integer");
  if (name.rfind("mobilenet_v2", 0) == 0) {
    if (chw[0] != 3)
      throw train::UsageError(name + " takes 3 input channels, but --input-shape " + a.str("input-shape") +
                              " has C = " + std::to_string(chw[0]));
  } else {
    options.in_channels = chw[0];
  }
  if (models::is_diffusion_model(name)) {
    if (chw[1] != chw[2])
      throw train::UsageError(name + " takes square latents, but --input-shape " + a.str("input-shape") + " has H " +
                              std::to_string(chw[1]) + " and W " + std::to_string(chw[2]));
    options.input_size = chw[1];
  }
  nn::ModulePtr model = models::make_model(name, options);

  const graph::Profile p = graph::profile(*model, chw, remove, graph::Discovery::on);
  if (a.has("json")) {
    std::printf("%s\n", graph::to_json(p).c_str());
    return 0;
  }
  std::string removed;
  for (const std::string& b : remove) removed += (removed.empty() ? "" : ", ") + b;
  std::printf("%s at %lldx%lldx%lld, %lld classes, removed: %s\n\n%s", name.c_str(), static_cast<long long>(chw[0]),
              static_cast<long long>(chw[1]), static_cast<long long>(chw[2]),
              static_cast<long long>(options.num_classes), removed.empty() ? "none" : removed.c_str(),
              graph::to_text(p).c_str());
  return 0;
}
