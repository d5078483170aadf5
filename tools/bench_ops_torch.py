#!/usr/bin/env python3
"""Compares lacoot's conv2d and GEMM speed with PyTorch's on this CPU.

    /usr/bin/python3 tools/bench_ops_torch.py build/tools/bench_ops [--threads 2] [--batch 128] [--repeat 5] [--rounds 3]

Runs the lacoot benchmark (tools/bench_ops.cpp) with --json, then the same shapes in PyTorch
(float32, torch.set_num_threads(threads), the same batch; conv2d goes to oneDNN there), timed
the same way: the best of --repeat runs after one warm-up, gradients reset before each
forward + backward, in --rounds alternating rounds (lacoot, PyTorch, lacoot, ...), the best of
all rounds kept for each side. Prints both and the ratio lacoot / PyTorch throughput (= PyTorch time /
lacoot time) per shape and overall (sum of times). Needs PyTorch (tools/setup.sh --torch).
"""
import argparse
import sys

import torch
import torch.nn.functional as F

from bench_peer import best_time, run_json


def torch_conv(c, batch, repeat):
    """(forward seconds, forward + backward seconds) for one conv2d shape of the lacoot JSON."""
    x = torch.randn(batch, c["C"], c["H"], c["H"])
    w = torch.randn(c["O"], c["C"], c["k"], c["k"])
    b = torch.randn(c["O"])
    stride, padding = c["stride"], c["padding"]

    def forward():
        with torch.no_grad():
            return F.conv2d(x, w, b, stride, padding)

    fwd = best_time(repeat, forward)
    g = torch.randn_like(forward())
    xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))

    def forward_backward():
        for t in (xs, ws, bs):
            t.grad = None
        F.conv2d(xs, ws, bs, stride, padding).backward(g)

    return fwd, best_time(repeat, forward_backward)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_ops", help="path to the lacoot bench_ops binary")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both sides")
    args = parser.parse_args()

    cmd = [args.bench_ops, "--json", "--threads", str(args.threads), "--batch", str(args.batch),
           "--repeat", str(args.repeat)]
    torch.set_num_threads(args.threads)
    # Rounds: lacoot, then PyTorch, again and again; each figure is the best over the rounds.
    # A shared machine's speed drifts over seconds, and one pass of each side, one after the
    # other, put that drift into the ratio (the same shape measured 0.67x and 0.81x in two runs).
    rounds = []
    for _ in range(args.rounds):
        lacoot = run_json(cmd)
        gemm = [best_time(args.repeat, lambda a=torch.randn(g["n"], g["n"]), b=torch.randn(g["n"], g["n"]):
                          torch.mm(a, b)) for g in lacoot["gemm"]]
        conv = [torch_conv(c, args.batch, args.repeat) for c in lacoot["conv2d"]]
        rounds.append((lacoot, gemm, conv))
    lacoot = rounds[0][0]
    lacoot["peak_gflops"] = max(r[0]["peak_gflops"] for r in rounds)
    # A GEMM's best round, with its % of that round's peak.
    lacoot["gemm"] = [max((r[0]["gemm"][i] for r in rounds), key=lambda g: g["gflops"])
                      for i in range(len(lacoot["gemm"]))]
    for i, c in enumerate(lacoot["conv2d"]):
        c["fwd_ms"] = min(r[0]["conv2d"][i]["fwd_ms"] for r in rounds)
        c["fb_ms"] = min(r[0]["conv2d"][i]["fb_ms"] for r in rounds)
    torch_gemm = [min(r[1][i] for r in rounds) for i in range(len(lacoot["gemm"]))]
    torch_convs = [(min(r[2][i][0] for r in rounds), min(r[2][i][1] for r in rounds))
                   for i in range(len(lacoot["conv2d"]))]

    print(f"lacoot vs PyTorch {torch.__version__} (CPU, float32): {args.threads} threads, "
          f"batch {args.batch}, best of {args.repeat} in each of {args.rounds} alternating rounds")
    print("ratio = lacoot throughput / PyTorch throughput (> 1: lacoot is faster)\n")
    print(f"machine peak (lacoot's FMA loop): {lacoot['peak_gflops']:.1f} GFLOP/s")
    print(f"{'GEMM f32':<12} {'lacoot GF/s':>12} {'% peak':>8} {'torch GF/s':>12} {'ratio':>7}")
    for g, t in zip(lacoot["gemm"], torch_gemm):
        n = g["n"]
        torch_gf = 2 * n ** 3 / t / 1e9
        print(f"{n:>4}^3       {g['gflops']:>12.1f} {g['pct_peak']:>7.1f}% {torch_gf:>12.1f} "
              f"{g['gflops'] / torch_gf:>7.2f}")

    print(f"\n{'conv2d':<30} {'fwd ms':>8} {'torch':>8} {'ratio':>6}   {'fwd+bwd ms':>10} {'torch':>8} {'ratio':>6}")
    sums = [0.0, 0.0, 0.0, 0.0]
    for c, (tf, tfb) in zip(lacoot["conv2d"], torch_convs):
        lf, lfb = c["fwd_ms"] / 1e3, c["fb_ms"] / 1e3
        for i, v in enumerate((lf, tf, lfb, tfb)):
            sums[i] += v
        print(f"{c['name']:<30} {lf * 1e3:>8.2f} {tf * 1e3:>8.2f} {tf / lf:>6.2f}   "
              f"{lfb * 1e3:>10.2f} {tfb * 1e3:>8.2f} {tfb / lfb:>6.2f}")
    print(f"{'total (sum of times)':<30} {sums[0] * 1e3:>8.2f} {sums[1] * 1e3:>8.2f} {sums[1] / sums[0]:>6.2f}   "
          f"{sums[2] * 1e3:>10.2f} {sums[3] * 1e3:>8.2f} {sums[3] / sums[2]:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
