#!/usr/bin/env python3
"""Compares one ResNet-18-CIFAR training step in lacoot and in PyTorch, in the same run.

    /usr/bin/python3 tools/bench_train_torch.py build/tools/bench_train [--threads 2] [--batch 128] [--steps 10]
                                                [--device cuda]

Runs lacoot's tools/bench_train.cpp (--json), then the same step in PyTorch in a fresh process
(torchvision's resnet18 with the LaCoOT reference's CIFAR stem, float32, train mode,
cross-entropy, SGD momentum 0.9 and weight decay 1e-4, torch.set_num_threads(threads)), timed
the same way: one warm-up step, then --steps steps. Each side's peak memory is its process's
resident high-water mark (ru_maxrss). Prints both and the ratios. Needs PyTorch and torchvision
(tools/setup.sh --torch).

--device cuda runs both on the GPU: float32 without TF32 on both sides (lacoot's default;
PyTorch's cudnn.allow_tf32 is switched off to match), each step ending with the loss read on
the host, which waits for the GPU; peak memory is then each side's allocator peak on the
device (lacoot's max_memory_allocated, torch.cuda.max_memory_allocated).
"""
import argparse
import json
import resource
import time

from bench_peer import cifar_resnet18, run_both


def torch_side(threads, batch, steps, device):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    model = cifar_resnet18().train().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, 32, 32).to(device)
    y = (torch.arange(batch) % 10).to(device)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    device_peak = torch.cuda.max_memory_allocated() / 2**20 if device != "cpu" else 0.0
    print(json.dumps({"images_per_second": batch * steps / seconds, "seconds_per_step": seconds / steps,
                      "peak_rss_mb": peak, "peak_device_mb": device_peak, "loss": loss,
                      "threads": torch.get_num_threads(), "batch": batch, "torch": torch.__version__}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench_train", nargs="?")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--torch-side", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.torch_side:
        return torch_side(a.threads, a.batch, a.steps, a.device)
    if not a.bench_train:
        p.error("give the path of lacoot's bench_train")
    common = ["--threads", str(a.threads), "--batch", str(a.batch), "--steps", str(a.steps), "--device", a.device]
    ours, theirs = run_both(a.bench_train, common, __file__)
    memory = "peak_device_mb" if a.device != "cpu" else "peak_rss_mb"
    print(f"ResNet-18-CIFAR training step, batch {a.batch}, 3x32x32, float32, {a.threads} threads, "
          f"{a.device}, {a.steps} steps after one warm-up")
    print(f"{'':10}{'s/step':>10}{'img/s':>10}{'peak MB':>14}")
    for name, r in (("lacoot", ours), (f"torch {theirs['torch']}", theirs)):
        print(f"{name:10}{r['seconds_per_step']:10.3f}{r['images_per_second']:10.1f}{r[memory]:14.0f}")
    print(f"throughput ratio lacoot / torch: {ours['images_per_second'] / theirs['images_per_second']:.2f}  "
          f"(target >= 0.8)")
    print(f"peak memory ratio lacoot / torch: {ours[memory] / theirs[memory]:.2f}  (target <= 1.0)")


if __name__ == "__main__":
    main()
