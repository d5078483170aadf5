"""What the bench_*_torch.py / bench_*_pot.py comparisons share: running lacoot's benchmark for its
JSON, running the peer's side in a fresh process of the same script, timing a call the same way
on both sides, and the PyTorch ResNet-18-CIFAR they compare against.

Imported by the scripts beside it (tools/ is on sys.path when one of them runs); PyTorch and
torchvision are imported only by cifar_resnet18, so a script can run lacoot's side without them.
"""
import json
import subprocess
import sys
import time


def run_json(cmd):
    """Runs `cmd` and returns the JSON object it prints on stdout."""
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def run_both(benchmark, options, script):
    """(lacoot's JSON, the peer's JSON): `benchmark options --json`, then `script --torch-side
    options` in a fresh Python process, so that neither side's threads or allocations touch the
    other's figures."""
    ours = run_json([benchmark, *options, "--json"])
    theirs = run_json([sys.executable, script, "--torch-side", *options])
    return ours, theirs


def best_time(repeat, fn):
    """The best of `repeat` timed calls of fn() after one warm-up call, in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cifar_resnet18(width=64, num_classes=10):
    """torchvision's resnet18 with the LaCoOT reference's CIFAR stem (3x3 conv, stride 1; the
    max-pool kept), every stage scaled by width / 64 (torchvision fixes them at 64·2^s)."""
    import torch
    from torchvision.models.resnet import BasicBlock, ResNet

    m = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    if width != 64:
        m.inplanes = width
        m.bn1 = torch.nn.BatchNorm2d(width)
        m.layer1 = m._make_layer(BasicBlock, width, 2)
        m.layer2 = m._make_layer(BasicBlock, width * 2, 2, stride=2)
        m.layer3 = m._make_layer(BasicBlock, width * 4, 2, stride=2)
        m.layer4 = m._make_layer(BasicBlock, width * 8, 2, stride=2)
        m.fc = torch.nn.Linear(width * 8, num_classes)
    m.conv1 = torch.nn.Conv2d(3, width, 3, 1, 1, bias=False)
    return m
