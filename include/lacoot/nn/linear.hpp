// lacoot/nn/linear.hpp — Linear and Conv2d, the layers with weights that MACs count, and
// Embedding, the lookup table.
//
// Holds: Linear (y = x Wᵀ + b), Conv2d (NCHW, OIHW weights) and Embedding (rows of a table),
// with PyTorch's parameter names (weight, bias) and PyTorch's default initialisation.
// Needs: nn/module.hpp, nn/init.hpp, ops/matmul.hpp, ops/conv.hpp, ops/index.hpp.
// Leaves out: padding modes other than zeros, transposed convolution, Embedding's padding_idx,
// max_norm and sparse gradients.
#pragma once

#include <cmath>

#include "../ops/conv.hpp"
#include "../ops/index.hpp"
#include "../ops/matmul.hpp"
#include "init.hpp"
#include "module.hpp"

namespace lacoot::nn {

// y = x Wᵀ + b.   x [*, in_features] → y [*, out_features]; weight [out, in], bias [out].
// Initialised as torch.nn.Linear.reset_parameters: W ~ kaiming_uniform_(a = √5), i.e.
// U(−1/√in, 1/√in), and b ~ U(−1/√in, 1/√in).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true)
      : Module("Linear"), in_features(in_features), out_features(out_features) {
    LACOOT_CHECK(in_features > 0 && out_features > 0, "Linear: in_features and out_features must be "
                 "positive, got ", in_features, " and ", out_features);
    weight = Tensor::empty({out_features, in_features});
    init::kaiming_uniform_(weight, std::sqrt(5.0));
    weight = register_parameter("weight", weight);
    if (bias) {
      this->bias = Tensor::empty({out_features});
      const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
      init::uniform_(this->bias, -bound, bound);
      this->bias = register_parameter("bias", this->bias);
    }
  }
  Tensor forward(const Tensor& x) override { return linear(x, weight, bias); }

  const int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when constructed with bias = false
};

// The constructor arguments of Conv2d beyond (in, out, kernel_size), as PyTorch names them:
//   Conv2d(64, 64, 3, {.stride = 2, .padding = 1, .bias = false})
struct Conv2dModuleOptions {
  IntPair stride = 1;
  IntPair padding = 0;
  IntPair dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

// out = conv2d(x, weight) + bias.   x [N, C_in, H, W] → [N, C_out, H_out, W_out];
// weight [C_out, C_in / groups, kH, kW], bias [C_out]. Default initialisation as
// torch.nn.Conv2d: kaiming_uniform_(a = √5) on the weight, U(±1/√fan_in) on the bias.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, IntPair kernel_size, const Conv2dModuleOptions& o = {})
      : Module("Conv2d"), in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size),
        options{.stride = o.stride, .padding = o.padding, .dilation = o.dilation, .groups = o.groups} {
    LACOOT_CHECK(in_channels > 0 && out_channels > 0 && o.groups > 0 && in_channels % o.groups == 0 &&
                 out_channels % o.groups == 0, "Conv2d: in_channels (", in_channels, ") and out_channels (",
                 out_channels, ") must be positive and divisible by groups (", o.groups, ")");
    LACOOT_CHECK(kernel_size.h > 0 && kernel_size.w > 0, "Conv2d: kernel_size must be positive, got (",
                 kernel_size.h, ", ", kernel_size.w, ")");
    weight = Tensor::empty({out_channels, in_channels / o.groups, kernel_size.h, kernel_size.w});
    init::kaiming_uniform_(weight, std::sqrt(5.0));
    weight = register_parameter("weight", weight);
    if (o.bias) {
      bias = Tensor::empty({out_channels});
      const double bound = 1.0 / std::sqrt(init::calculate_fan_in_and_fan_out(weight).first);
      init::uniform_(bias, -bound, bound);
      bias = register_parameter("bias", bias);
    }
  }
  Tensor forward(const Tensor& x) override { return conv2d(x, weight, bias, options); }

  const int64_t in_channels, out_channels;
  const IntPair kernel_size;
  const Conv2dOptions options;  // stride, padding, dilation, groups
  Tensor weight, bias;
};

// weight[indices]: indices int64 [...] → [..., embedding_dim]; weight [num_embeddings,
// embedding_dim], initialised N(0, 1) as torch.nn.Embedding.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim)
      : Module("Embedding"), num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
    LACOOT_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding: num_embeddings and embedding_dim must be "
                 "positive, got ", num_embeddings, " and ", embedding_dim);
    weight = Tensor::empty({num_embeddings, embedding_dim});
    init::normal_(weight);
    weight = register_parameter("weight", weight);
  }
  Tensor forward(const Tensor& indices) override { return embedding(weight, indices); }

  const int64_t num_embeddings, embedding_dim;
  Tensor weight;
};

}  // namespace lacoot::nn
