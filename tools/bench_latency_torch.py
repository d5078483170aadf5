#!/usr/bin/env python3
"""Inference time of ResNet-18-CIFAR dense and with its 4 removable blocks collapsed, in lacoot
and in PyTorch, in the same run.

    /usr/bin/python3 tools/bench_latency_torch.py build/tools/bench_latency [--threads 2] [--width 64] [--repeat 10]

Runs lacoot's tools/bench_latency.cpp (--json), then the same two models in PyTorch in a fresh
process: torchvision's resnet18 with the LaCoOT reference's CIFAR stem (3x3 conv, stride 1;
the max-pool kept), eval mode under torch.no_grad(), and for the collapsed one layer1[1] ...
layer4[1] replaced by torch.nn.Identity (the reference's check_removability.py builds the same
network as ResNet(BasicBlock, [1, 1, 1, 1])). Batches of 1 and 128 images, 3x32x32 float32, each
timed alternately on the two models --repeat times after a warm-up, best time kept. The width
scales every stage (64 is the paper's). Needs PyTorch and torchvision (tools/setup.sh --torch).
"""
import argparse
import json
import time

from bench_peer import cifar_resnet18, run_both


def torch_side(threads, width, repeat):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dense, collapsed = cifar_resnet18(width).eval(), cifar_resnet18(width).eval()
    for layer in (collapsed.layer1, collapsed.layer2, collapsed.layer3, collapsed.layer4):
        layer[1] = torch.nn.Identity()
    best = {}
    with torch.no_grad():
        for batch in (1, 128):
            x = torch.randn(batch, 3, 32, 32)
            dense(x), collapsed(x)
            times = {"dense": 1e30, "collapsed": 1e30}
            for _ in range(repeat):
                for name, m in (("dense", dense), ("collapsed", collapsed)):
                    t0 = time.perf_counter()
                    m(x)
                    times[name] = min(times[name], (time.perf_counter() - t0) * 1e3)
            best[f"dense_ms_batch{batch}"] = times["dense"]
            best[f"collapsed_ms_batch{batch}"] = times["collapsed"]
    for b in (1, 128):
        best[f"ratio_batch{b}"] = best[f"collapsed_ms_batch{b}"] / best[f"dense_ms_batch{b}"]
    best["torch"] = torch.__version__
    print(json.dumps(best))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench_latency", nargs="?")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--torch-side", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.torch_side:
        return torch_side(a.threads, a.width, a.repeat)
    if not a.bench_latency:
        p.error("give the path of lacoot's bench_latency")
    common = ["--threads", str(a.threads), "--width", str(a.width), "--repeat", str(a.repeat)]
    ours, theirs = run_both(a.bench_latency, common, __file__)
    print(f"ResNet-18-CIFAR inference, width {a.width}, 3x32x32 float32, {a.threads} threads, best of {a.repeat}")
    print(f"{'':12}{'dense b1':>10}{'coll. b1':>10}{'ratio':>7}{'dense b128':>12}{'coll. b128':>12}{'ratio':>7}")
    for name, r in (("lacoot", ours), (f"torch {theirs['torch']}", theirs)):
        print(f"{name:12}{r['dense_ms_batch1']:10.3f}{r['collapsed_ms_batch1']:10.3f}{r['ratio_batch1']:7.3f}"
              f"{r['dense_ms_batch128']:12.2f}{r['collapsed_ms_batch128']:12.2f}{r['ratio_batch128']:7.3f}")
    print(f"lacoot collapsed / dense at batch 128: {ours['ratio_batch128']:.3f}  (target <= 0.55)")
    print(f"lacoot / torch, dense batch 128: {ours['dense_ms_batch128'] / theirs['dense_ms_batch128']:.2f}x the time")


if __name__ == "__main__":
    main()
