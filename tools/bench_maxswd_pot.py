#!/usr/bin/env python3
"""Compares lacoot's Max-SWD forward + backward with POT's, in the same run.

    /usr/bin/python3 tools/bench_maxswd_pot.py build/tools/bench_maxswd [--threads 2] [--n 128] [--d 65536]
        [--projections 50] [--repeat 5]

Runs lacoot's tools/bench_maxswd.cpp (--json), then POT's
ot.sliced.max_sliced_wasserstein_distance(X, Y, n_projections=K, p=2) on torch tensors
(torch.set_num_threads(threads); X, Y float32 [n, d] requiring grad; fresh directions each call,
as the LaCoOT reference calls it every step) with .backward(), timed the same way: best of
--repeat after one warm-up. Prints both and the speed-up. Needs POT and PyTorch
(tools/setup.sh --torch).
"""
import argparse

import ot
import torch

from bench_peer import best_time, run_json


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench_maxswd")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--d", type=int, default=65536)
    p.add_argument("--projections", type=int, default=50)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    ours = run_json([a.bench_maxswd, "--threads", str(a.threads), "--n", str(a.n), "--d", str(a.d),
                     "--projections", str(a.projections), "--repeat", str(a.repeat), "--json"])
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    X = torch.randn(a.n, a.d, requires_grad=True)
    Y = (torch.randn(a.n, a.d) + 0.5).requires_grad_()

    def run():
        X.grad = None
        Y.grad = None
        dist = ot.sliced.max_sliced_wasserstein_distance(X, Y, n_projections=a.projections, p=2)
        dist.backward()

    best = best_time(a.repeat, run)
    print(f"Max-SWD forward+backward, n {a.n}, d {a.d}, {a.projections} directions, float32, {a.threads} threads")
    print(f"lacoot          {ours['seconds'] * 1e3:10.2f} ms")
    print(f"POT {ot.__version__} (torch {torch.__version__}) {best * 1e3:10.2f} ms")
    print(f"speed-up lacoot / POT: {best / ours['seconds']:.2f}x  (target >= 2)")


if __name__ == "__main__":
    main()
