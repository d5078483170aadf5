// lacoot/lacoot.hpp — everything lacoot offers, in one include.
//
// lacoot is a header-only C++20 deep-learning framework built for LaCoOT, Layer Collapse
// through Optimal Transport (Quétu et al., ICCV 2025, arXiv 2406.08933): train a network with a
// Max-Sliced-Wasserstein regulariser between each block's input and output, then replace whole
// blocks by the identity. This release holds the engine the method stands on: tensors,
// define-by-run autograd, CPU ops fast enough to train convolutional networks, modules and
// the ResNet family.
//
// A complete tiny program (one gradient step of least squares, w ← w − 0.1 ∂L/∂w):
//
//   #include <lacoot/lacoot.hpp>
//   using namespace lacoot;
//   int main() {
//     Tensor x = randn({8, 3}), y = randn({8, 1});
//     Tensor w = zeros({3, 1}).requires_grad_();
//     Tensor loss = mse_loss(matmul(x, w), y);
//     loss.backward();                                 // fills w.grad()
//     { NoGradGuard no_grad; w = (w - w.grad() * 0.1).detach().requires_grad_(); }
//     std::cout << loss << "\n" << w << "\n";
//   }
//
// Headers are included in reading order; each only uses the ones above it.
#pragma once

// core — the Tensor handle and what it is made of
#include "core/error.hpp"      // defines: lacoot::Error, LACOOT_CHECK
#include "core/dtype.hpp"      // defines: DType (float32, float64, int64), dispatch_floating
#include "core/device.hpp"     // defines: Device (cpu; cuda in a later release)
#include "core/shape.hpp"      // defines: Shape, broadcast_shapes, wrap_dim
#include "core/storage.hpp"    // defines: Storage (64-byte aligned memory), cpu_cache_stats, set_cpu_cache_limit, empty_cpu_cache
#include "core/rng.hpp"        // defines: Generator (counter-based), manual_seed
#include "core/parallel.hpp"   // defines: parallel_for, set_num_threads
#include "core/tensor.hpp"     // defines: Tensor, TensorImpl
#include "core/factories.hpp"  // defines: zeros, ones, full, arange, tensor, rand, randn, randperm
#include "core/print.hpp"      // defines: operator<< for Tensor, to_string

// autograd — recording ops and running them backwards
#include "autograd/grad_mode.hpp"  // defines: NoGradGuard
#include "autograd/scope.hpp"      // defines: ScopeGuard, current_scope (the module an op was recorded in)
#include "autograd/node.hpp"       // defines: Node, record (the backward contract)
#include "autograd/engine.hpp"     // defines: backward, Tensor::backward
#include "autograd/gradcheck.hpp"  // defines: gradcheck (finite differences in float64)

// ops — each op checks its arguments, runs a backend kernel, records its backward
#include "ops/elementwise.hpp"  // defines: add sub mul div neg pow exp log sin cos sqrt abs clamp where eq..ge
#include "ops/activation.hpp"   // defines: relu relu6 leaky_relu gelu silu sigmoid tanh
#include "ops/reduce.hpp"       // defines: sum mean var max min argmax argmin
#include "ops/softmax.hpp"      // defines: softmax log_softmax
#include "ops/loss.hpp"         // defines: cross_entropy nll_loss mse_loss
#include "ops/matmul.hpp"       // defines: matmul linear
#include "ops/conv.hpp"         // defines: conv2d
#include "ops/pooling.hpp"      // defines: max_pool2d avg_pool2d adaptive_avg_pool2d
#include "ops/norm.hpp"         // defines: batch_norm layer_norm
#include "ops/dropout.hpp"      // defines: dropout stochastic_depth
#include "ops/shape.hpp"        // defines: reshape view flatten (un)squeeze permute transpose cat stack narrow slice split pad roll
#include "ops/index.hpp"        // defines: index_select index_add gather scatter_add embedding
#include "ops/sort.hpp"         // defines: sort argsort topk
#include "ops/transformer.hpp"  // defines: scaled_dot_product_attention window_partition window_reverse merge_patches timestep_embedding modulate

// ot — optimal transport distances as differentiable ops
#include "ot/wasserstein_1d.hpp"      // defines: wasserstein_1d (W_p^p, POT's semantics), root_p
#include "ot/sliced_wasserstein.hpp"  // defines: random_projections, sliced_wasserstein, max_sliced_wasserstein, max_sliced_wasserstein_optimised

// nn — modules: named parameters and buffers, layers, initialisation, removable blocks
#include "nn/module.hpp"         // defines: nn::Module, ModulePtr, StateDict, LoadResult
#include "nn/init.hpp"           // defines: nn::init::kaiming_normal_, kaiming_uniform_, xavier_*, trunc_normal_, ...
#include "nn/linear.hpp"         // defines: nn::Linear, nn::Conv2d
#include "nn/normalization.hpp"  // defines: nn::BatchNorm2d, nn::LayerNorm
#include "nn/activation.hpp"     // defines: nn::ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Dropout, StochasticDepth
#include "nn/pooling.hpp"        // defines: nn::MaxPool2d, AvgPool2d, AdaptiveAvgPool2d
#include "nn/container.hpp"      // defines: nn::Sequential, Identity, Flatten, Permute
#include "nn/block.hpp"          // defines: nn::blocks, BlockPairHooks (the compared pairs), nn::replace_with_identity

// models — torchvision's architectures with torchvision's parameter names
#include "models/resnet.hpp"        // defines: models::resnet18, resnet18_cifar, resnet34, resnet50, BasicBlock, Bottleneck
#include "models/mobilenet_v2.hpp"  // defines: models::mobilenet_v2, mobilenet_v2_cifar, InvertedResidual
#include "models/vgg.hpp"           // defines: models::vgg16, vgg16_bn
#include "models/swin.hpp"          // defines: models::swin_t, SwinTransformer, SwinTransformerBlock, ShiftedWindowAttention, PatchMerging, SwinPair
#include "models/zoo.hpp"           // defines: models::make_model, model_names (the command-line names)

// graph — a traced model as plain data: MACs, parameters, critical path length, the collapse transform
#include "graph/graph.hpp"     // defines: graph::Graph, graph::Op, graph::kInput, graph::in_scope
#include "graph/trace.hpp"     // defines: graph::trace (one eval forward on a batch of 1, ops with their module scope)
#include "graph/analysis.hpp"  // defines: graph::macs, params, cpl, layers, LayerRow (the paper's MACs convention)
#include "graph/collapse.hpp"  // defines: graph::collapse (remove a block's subgraph, rewire to its input), collapse_model
#include "graph/discover.hpp"  // defines: graph::Region, discover_removable, collapse_region, collapse_discovered, collapse_model_discovered
#include "graph/profile.hpp"   // defines: graph::Profile, Discovery, profile, to_json, to_text

// optim — optimisers, learning-rate schedules, gradient clipping
#include "optim/optimizer.hpp"     // defines: optim::Optimizer, ParamGroup, StateDict (param groups, zero_grad, state_dict)
#include "optim/sgd.hpp"           // defines: optim::SGD, SGDOptions (momentum, dampening, weight decay, nesterov, maximize)
#include "optim/adam.hpp"          // defines: optim::Adam, AdamW, AdamOptions, AdamWOptions (amsgrad, decoupled decay)
#include "optim/lr_scheduler.hpp"  // defines: optim::MultiStepLR, CosineAnnealingLR, LinearLR, SequentialLR
#include "optim/clip_grad.hpp"     // defines: optim::clip_grad_norm_, clip_grad_value_

// io — files: crash-safe writes, JSON, safetensors, .npy
#include "io/atomic_file.hpp"  // defines: read_file, write_file_atomic (temp file + fsync + rename)
#include "io/json.hpp"         // defines: Json (ordered objects, exact int64), parse_json, Json::dump
#include "io/half.hpp"         // defines: half_to_float, float_to_half, bfloat16_to_float, float_to_bfloat16
#include "io/safetensors.hpp"  // defines: Safetensors, load/save/parse/serialize_safetensors, HalfType
#include "io/npy.hpp"          // defines: load_npy, save_npy, parse_npy, serialize_npy (numpy 1.24 layout)
#include "io/svg_plot.hpp"     // defines: LinePlot, PlotSeries, PlotStyle, svg_line_plot, BarPlot, BarSeries, svg_bar_plot, save_*

// train — the loop helpers
#include "train/metrics.hpp"   // defines: train::topk_correct, Accuracy, RunningMean
#include "train/progress.hpp"  // defines: train::Stopwatch, Progress (ETA, img/s; plain lines off a terminal)
#include "train/recipe.hpp"    // defines: train::Recipe, recipe_for (the paper's recipes)
#include "train/epoch.hpp"       // defines: train::train_epoch, evaluate, StepHooks, EpochResult
#include "train/checkpoint.hpp"  // defines: train::Checkpoint, save_checkpoint, load_checkpoint (exact resume)

// distributed — data parallel across processes (the MPI transport: distributed/mpi.hpp, not included here:
// it needs <mpi.h> and mpicxx's flags)
#include "distributed/communicator.hpp"  // defines: distributed::Communicator, ReduceOp, SingleProcess, launched_world_size
#include "distributed/ddp.hpp"           // defines: distributed::DistributedDataParallel, DDPOptions, DDPStats
#include "distributed/functional.hpp"    // defines: distributed::functional::all_reduce, all_gather (differentiable)
#include "distributed/sync_batch_norm.hpp"  // defines: distributed::convert_sync_batchnorm

// lacoot — the method
#include "method/regulariser.hpp"  // defines: method::MaxSWDRegulariser (λ·R over the marked blocks), block_distances, block_pair_means
#include "method/ranking.hpp"      // defines: method::Ranking, parse_ranking, block_scores, block_cosine_influence, zscore_scores
#include "method/algorithm1.hpp"   // defines: method::algorithm1 (Algorithm 1 with any ranking; block-influence and random baselines)
