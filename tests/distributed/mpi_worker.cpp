// One rank of the distributed tests: tests/distributed/test_distributed.cpp starts it as
// `mpirun -np 2 mpi_worker SCENARIO` and reads what each rank prints. A rank that finds a
// mismatch says so on stderr and exits 1.
//   collectives  all_reduce (sum, average, max; float32, float64, int64; a tensor of 10^6
//                elements), broadcast from rank 1, all_gather, barrier, and the errors
//   ddp          DistributedDataParallel on 2 ranks of half the batch against one process with
//                the whole batch (computed on each rank): the same weights after 12 steps, with
//                the buckets' all-reduce overlapped with backward and without
//   syncbn       the same with BatchNorm: SyncBatchNorm matches one process, per-rank BN does not
//   regulariser  the same with LaCoOT's regulariser: gathered rows (global) match one process,
//                each rank's rows (local) do not
//   hang         rank 1 sleeps instead of joining; rank 0's all_reduce gives up after 2 s
//   die          rank 1 exits at once; mpirun must end rank 0, which waits in an all_reduce
//   nccl         the collectives and DDP (an MLP) on GPU tensors through NcclCommunicator, one
//                GPU per rank; says "skipped" without NCCL or with fewer GPUs than ranks
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "data_loaders/loader.hpp"
#include "lacoot/distributed/ddp.hpp"
#include "lacoot/distributed/functional.hpp"
#include "lacoot/distributed/sync_batch_norm.hpp"
#include "lacoot/distributed/mpi.hpp"
#include "lacoot/lacoot.hpp"
#if LACOOT_WITH_NCCL
#include "lacoot/distributed/nccl.hpp"
#endif

using namespace lacoot;
using distributed::ReduceOp;

namespace {

void expect(bool ok, const std::string& what) {
  if (!ok) throw Error("mismatch: " + what);
}

Tensor filled(Shape shape, DType dtype, const std::function<double(int64_t)>& value) {
  Tensor t = Tensor::empty(std::move(shape), dtype, kCPU);
  dispatch_all(dtype, "filled", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(value(i));
  });
  return t;
}

template <class T>
void expect_values(const Tensor& t, const std::function<double(int64_t)>& want, const std::string& what) {
  for (int64_t i = 0; i < t.numel(); ++i)
    expect(t.data<T>()[i] == static_cast<T>(want(i)), what + " at element " + std::to_string(i));
}

// Each tensor is made on the host, reduced on `device`, and read back on the host.
int collectives(distributed::Communicator& comm, Device device = kCPU) {
  const int r = comm.rank(), n = comm.world_size();
  auto on = [&](const Tensor& t) { return t.to(device); };
  auto back = [&](Tensor& t) { t = t.to(kCPU); };
  const double ranks_sum = n * (n + 1) / 2.0;  // Σ (rank + 1)
  Tensor a = on(filled({3, 5}, kFloat32, [&](int64_t i) { return (r + 1) * (i + 1); }));
  comm.all_reduce(a);
  back(a);
  expect_values<float>(a, [&](int64_t i) { return ranks_sum * (i + 1); }, "all_reduce sum float32");
  Tensor b = on(filled({7}, kFloat64, [&](int64_t i) { return (r + 1) * 0.5 + i; }));
  comm.all_reduce(b, ReduceOp::Average);
  back(b);
  expect_values<double>(b, [&](int64_t i) { return ranks_sum * 0.5 / n + i; }, "all_reduce average float64");
  Tensor c = on(filled({4}, kInt64, [&](int64_t i) { return r == 1 ? 100 + i : -i; }));
  comm.all_reduce(c, ReduceOp::Max);
  Tensor c_host = c.to(kCPU);
  expect_values<int64_t>(c_host, [&](int64_t i) { return n > 1 ? 100 + i : -i; }, "all_reduce max int64");
  Tensor big = on(filled({1000000}, kFloat32, [&](int64_t i) { return static_cast<double>((i % 1000) * (r + 1)); }));
  comm.all_reduce(big);
  back(big);
  expect_values<float>(big, [&](int64_t i) { return static_cast<double>((i % 1000) * ranks_sum); }, "all_reduce 10^6");

  const int root = n - 1;
  Tensor d = on(filled({2, 3}, kFloat32, [&](int64_t i) { return 10.0 * r + i; }));
  comm.broadcast(d, root);
  back(d);
  expect_values<float>(d, [&](int64_t i) { return 10.0 * root + i; }, "broadcast from the last rank");
  Tensor g = comm.all_gather(on(filled({1, 2}, kInt64, [&](int64_t i) { return 10 * r + i; })));
  back(g);
  expect(g.shape() == Shape{n, 2}, "all_gather shape " + shape_str(g.shape()));
  expect_values<int64_t>(g, [&](int64_t i) { return 10 * (i / 2) + i % 2; }, "all_gather");
  comm.barrier();

  int errors = 0;
  if (n > 1) {  // in a world of one no shape can differ
    try {
      comm.all_gather(on(Tensor::empty({2 + r}, kFloat32, kCPU)));  // shapes differ between the ranks
    } catch (const Error& e) {
      expect(std::string(e.what()).find("but rank") != std::string::npos, std::string("all_gather's error: ") + e.what());
      ++errors;
    }
  }
  try {
    comm.all_reduce(c, ReduceOp::Average);
  } catch (const Error& e) {
    expect(std::string(e.what()).find("needs a floating") != std::string::npos, e.what());
    ++errors;
  }
  expect(errors == (n > 1 ? 2 : 1), "a misuse was not refused");
  comm.barrier();  // still usable after them
  std::printf("rank %d of %d: collectives ok on %s\n", r, n, device.str().c_str());
  return 0;
}

// 48 images 1x6x6 of deterministic bytes, labels in 0..9.
std::shared_ptr<data::ImageDataset> small_dataset() {
  auto d = std::make_shared<data::ImageDataset>();
  d->channels = 1;
  d->height = d->width = 6;
  for (int64_t i = 0; i < 48; ++i) {
    d->labels.push_back((i * 7) % 10);
    for (int64_t k = 0; k < 36; ++k) d->pixels.push_back(static_cast<uint8_t>((i * 37 + k * 11 + i * k) % 256));
  }
  return d;
}

// No BatchNorm (its batch statistics are per rank); a parameter unused in forward (extra) to
// check that one without a gradient anywhere keeps none.
std::shared_ptr<nn::Sequential> small_model(uint64_t seed, bool conv = true) {
  manual_seed(seed);
  using nn::ModulePtr;
  if (!conv)  // for a GPU build that may lack cuDNN
    return std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(36, 16), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Linear>(16, 10)});
  return std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dModuleOptions{.padding = 1}), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Conv2d>(4, 4, 3, nn::Conv2dModuleOptions{.stride = 2, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(36, 10)});
}

// The weights, then the buffers, after two epochs of batch `batch` from this rank's shard (and
// LaCoOT's regulariser when given).
std::vector<Tensor> train_two_epochs(nn::Module& model, int64_t batch, const data::Shard& shard,
                                     distributed::DistributedDataParallel* ddp,
                                     method::MaxSWDRegulariser* reg = nullptr) {
  data::DataLoader loader(small_dataset(), {.batch_size = batch, .shuffle = true, .seed = 3,
                                            .transform = data::RandomHorizontalFlip{0.5}, .shard = shard});
  optim::SGD sgd(model.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3});
  train::StepHooks hooks;
  if (ddp) ddp->attach(hooks);
  if (reg) hooks.extra_loss = [reg] { return reg->penalty(); };
  for (int e = 0; e < 2; ++e) train::train_epoch(model, sgd, loader, hooks);
  std::vector<Tensor> state = model.parameters();
  for (auto& [name, b] : model.named_buffers()) state.push_back(b);
  return state;
}

double largest_difference(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  expect(got.size() == want.size(), "the two runs hold different tensors");
  double worst = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const Tensor a = got[k].to(kFloat64), b = want[k].to(kFloat64);
    for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(a.data<double>()[i] - b.data<double>()[i]));
  }
  return worst;
}

// Both ways of averaging: buckets started during backward (overlap, the default) and after it.
int ddp(distributed::Communicator& comm, Device device = kCPU) {
  const int r = comm.rank(), n = comm.world_size();
  const bool conv = device.is_cpu();
  auto reference = small_model(7, conv);
  reference->to(device);
  const std::vector<Tensor> want = train_two_epochs(*reference, 8, {}, nullptr);
  expect(8 % n == 0, "the world size divides the batch of 8");
  for (const bool overlap : {true, false}) {
    // Rank 0 starts where the reference did; the others elsewhere, which the broadcast must undo.
    auto model = small_model(r == 0 ? 7 : 100 + static_cast<uint64_t>(r), conv);
    model->to(device);
    distributed::DistributedDataParallel ddp(*model, comm, {.bucket_cap_mb = 0.0005, .overlap = overlap});  // 524 bytes
    expect(ddp.num_buckets() >= 3, "buckets: " + std::to_string(ddp.num_buckets()));
    const std::vector<Tensor> got = train_two_epochs(*model, 8 / n, {.num_replicas = n, .rank = r}, &ddp);
    const double worst = largest_difference(got, want);
    const distributed::DDPStats& st = ddp.stats();
    std::printf("rank %d of %d: %zu buckets on %s, overlap %s (%lld of %lld started during backward); after 12 steps "
                "of batch %d the largest difference from one process with batch 8 is %.3g\n", r, n,
                ddp.num_buckets(), device.str().c_str(), overlap ? "on" : "off",
                static_cast<long long>(st.buckets_started_during_backward),
                static_cast<long long>(st.steps) * static_cast<long long>(ddp.num_buckets()), 8 / n, worst);
    expect(worst < 2e-5, "DDP weights differ from the single-process run by " + std::to_string(worst));
    expect(st.steps == (n > 1 ? 12 : 0), "DDP counted " + std::to_string(st.steps) + " steps");
    // Every parameter takes part in every pass, so with overlap every bucket starts inside backward.
    const int64_t expected = overlap && n > 1 ? st.steps * static_cast<int64_t>(ddp.num_buckets()) : 0;
    expect(st.buckets_started_during_backward == expected,
           "buckets started during backward: " + std::to_string(st.buckets_started_during_backward));
  }
  return 0;
}

// Conv → BatchNorm → ReLU, twice, then a classifier: BN's statistics depend on who is in the batch.
std::shared_ptr<nn::Sequential> bn_model(uint64_t seed) {
  manual_seed(seed);
  using nn::ModulePtr;
  return std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dModuleOptions{.padding = 1}), std::make_shared<nn::BatchNorm2d>(4),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Conv2d>(4, 4, 3, nn::Conv2dModuleOptions{.stride = 2, .padding = 1}),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(36, 10)});
}

// SyncBatchNorm: 2 ranks of half the batch end with one process's weights and running
// statistics; per-rank BatchNorm (the control) does not.
int syncbn(distributed::Communicator& comm) {
  const int r = comm.rank(), n = comm.world_size();
  auto reference = bn_model(7);
  const std::vector<Tensor> want = train_two_epochs(*reference, 8, {}, nullptr);
  double worst[2] = {0, 0};
  for (const bool sync : {true, false}) {
    auto model = bn_model(r == 0 ? 7 : 100 + static_cast<uint64_t>(r));
    if (sync) expect(distributed::convert_sync_batchnorm(*model, comm) == 2, "two BatchNorm2d converted");
    distributed::DistributedDataParallel ddp(*model, comm, {.bucket_cap_mb = 0.0005});
    worst[sync] = largest_difference(train_two_epochs(*model, 8 / n, {.num_replicas = n, .rank = r}, &ddp), want);
  }
  std::printf("rank %d of %d: after 12 steps of batch %d, weights and running statistics differ from one process with "
              "batch 8 by %.3g with SyncBatchNorm, by %.3g with per-rank BatchNorm\n", r, n, 8 / n, worst[1], worst[0]);
  expect(worst[1] < 2e-5, "SyncBatchNorm differs from the single-process run by " + std::to_string(worst[1]));
  expect(n == 1 || worst[0] > 1e-3, "per-rank BatchNorm matched the single-process run: the check sees nothing");
  return 0;
}

// A shape-preserving, removable block: x + tanh(fc(x)).
class Residual : public nn::Module {
 public:
  explicit Residual(int64_t d) : Module("Residual") {
    fc = register_module("fc", std::make_shared<nn::Linear>(d, d));
    mark_block();
  }
  Tensor forward(const Tensor& x) override { return x + lacoot::tanh((*fc)(x)); }
  std::shared_ptr<nn::Linear> fc;
};

std::shared_ptr<nn::Sequential> block_model(uint64_t seed) {
  manual_seed(seed);
  using nn::ModulePtr;
  return std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(36, 16), std::make_shared<Residual>(16),
      std::make_shared<Residual>(16), std::make_shared<nn::Linear>(16, 10)});
}

// LaCoOT's regulariser with the activations gathered from every rank: 2 ranks of half the batch
// end with the weights of one process measuring each block on the whole batch; measured on each
// rank's half (local, the default, the control) they do not.
int regulariser(distributed::Communicator& comm) {
  const int r = comm.rank(), n = comm.world_size();
  const method::RegulariserOptions options{.lambda = 2.0, .n_projections = 20, .seed = 5};
  auto reference = block_model(7);
  method::MaxSWDRegulariser reference_reg(*reference, options);
  const std::vector<Tensor> want = train_two_epochs(*reference, 8, {}, nullptr, &reference_reg);
  double worst[2] = {0, 0};
  for (const bool global : {true, false}) {
    auto model = block_model(r == 0 ? 7 : 100 + static_cast<uint64_t>(r));
    method::RegulariserOptions o = options;
    if (global) o.gather_rows = [&comm](const Tensor& rows) { return distributed::functional::all_gather(rows, comm); };
    method::MaxSWDRegulariser reg(*model, o);
    distributed::DistributedDataParallel ddp(*model, comm, {.bucket_cap_mb = 0.0005});
    worst[global] =
        largest_difference(train_two_epochs(*model, 8 / n, {.num_replicas = n, .rank = r}, &ddp, &reg), want);
  }
  std::printf("rank %d of %d: after 12 steps of batch %d with λ·R, the weights differ from one process with batch 8 "
              "by %.3g with the rows gathered (global), by %.3g on each rank's rows (local)\n", r, n, 8 / n, worst[1],
              worst[0]);
  expect(worst[1] < 2e-5, "the gathered regulariser differs from the single-process run by " + std::to_string(worst[1]));
  expect(n == 1 || worst[0] > 1e-4, "the per-rank regulariser matched the single-process run: the check sees nothing");
  return 0;
}

int hang(distributed::Communicator& comm) {
  comm.timeout_seconds = 2;
  if (comm.rank() == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
  }
  Tensor t = Tensor::empty({4}, kFloat32, kCPU);
  comm.all_reduce(t);
  return 0;
}

int nccl(distributed::Communicator& comm) {
#if LACOOT_WITH_NCCL
  if (cuda::device_count() < comm.world_size()) {
    std::printf("rank %d: skipped: %d GPU(s) for %d ranks (NCCL needs one GPU per rank)\n", comm.rank(),
                cuda::device_count(), comm.world_size());
    return 0;
  }
  distributed::NcclCommunicator gpus;
  collectives(gpus, gpus.device());
  ddp(gpus, gpus.device());
  std::printf("rank %d of %d: nccl ok on %s\n", gpus.rank(), gpus.world_size(), gpus.device().str().c_str());
#else
  std::printf("rank %d: skipped: built without NCCL\n", comm.rank());
#endif
  return 0;
}

int die(distributed::Communicator& comm) {
  if (comm.rank() == 1) std::_Exit(3);
  Tensor t = Tensor::empty({4}, kFloat32, kCPU);
  comm.all_reduce(t);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "";
  int rank = -1;
  try {
    distributed::MpiCommunicator comm;
    rank = comm.rank();
    set_num_threads(1);
    if (scenario == "collectives") return collectives(comm);
    if (scenario == "ddp") return ddp(comm);
    if (scenario == "syncbn") return syncbn(comm);
    if (scenario == "regulariser") return regulariser(comm);
    if (scenario == "hang") return hang(comm);
    if (scenario == "die") return die(comm);
    if (scenario == "nccl") return nccl(comm);
    std::fprintf(stderr, "mpi_worker: unknown scenario \"%s\" (collectives, ddp, syncbn, regulariser, hang, die, nccl)\n",
                 scenario.c_str());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
    return 1;
  }
}
