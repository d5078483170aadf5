#!/usr/bin/env python3
"""Data-parallel scaling on one machine (issue 9's figure): `lacoot train` as one process with T
threads against `mpirun -np N` processes of T / N threads each, in one run, on the same global
batch, the same steps and the same cores.

    python3 tools/bench_ddp.py build/tools/lacoot [--processes 2] [--threads 2] [--steps 40]
        [--model resnet18-cifar] [--width 32] [--batch-size 128] [--lambda 1] [--bucket-cap-mb 25] [--json]

Prints each side's training throughput (images per second over the training steps only, as
summary.json's images_per_second: evaluation excluded), the ratio, and what the gradient
averaging cost the data-parallel side (summary.json's communication_seconds_*: inside backward's
hooks, where the buckets start, and after backward, where the step waits for them), as a share
of its training time. Needs a lacoot built with MPI, mpirun, and Fashion-MNIST
(dataset-fashion-mnist). Neither side's evaluation passes are timed; --val-size keeps them short.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


def train(lacoot, out, args, processes, threads):
    """Runs one `lacoot train` (under mpirun when processes > 1) and returns its summary.json."""
    cmd = [lacoot, "train", "--model", args.model, "--dataset", "fashion-mnist", "--width", str(args.width),
           "--batch-size", str(args.batch_size), "--max-steps", str(args.steps), "--val-size", "1000",
           "--lambda", str(args.lambda_), "--threads", str(threads), "--out", out]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if processes > 1:
        cmd += ["--bucket-cap-mb", str(args.bucket_cap_mb)]
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            sys.exit("bench_ddp: mpirun is not on PATH (Debian: openmpi-bin)")
        if os.geteuid() == 0:  # Open MPI refuses root unless told (containers run as root)
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        cmd = [mpirun, "-np", str(processes), "--bind-to", "core", "-x", "OMP_NUM_THREADS"] + cmd
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("lacoot", help="the lacoot program (build/tools/lacoot), built with MPI")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="in all: the single process's, split among the processes")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--model", default="resnet18-cifar")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lambda", dest="lambda_", type=float, default=1.0, help="the regulariser's weight (0: none)")
    p.add_argument("--bucket-cap-mb", type=float, default=25, help="the data-parallel side's bucket size")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()
    if args.threads % args.processes:
        sys.exit(f"bench_ddp: --threads {args.threads} does not split among {args.processes} processes")
    with tempfile.TemporaryDirectory(prefix="bench_ddp_") as tmp:
        one = train(args.lacoot, os.path.join(tmp, "one"), args, 1, args.threads)
        many = train(args.lacoot, os.path.join(tmp, "many"), args, args.processes, args.threads // args.processes)
    share = many["communication_share"]
    figures = {
        "model": args.model, "width": args.width, "batch_size": args.batch_size, "steps": args.steps,
        "lambda": args.lambda_, "bucket_cap_mb": args.bucket_cap_mb, "threads": args.threads, "processes": args.processes,
        "one_process_images_per_second": one["images_per_second"],
        "data_parallel_images_per_second": many["images_per_second"],
        "ratio": many["images_per_second"] / one["images_per_second"],
        "buckets": many["buckets"],
        "communication_seconds_during_backward": many["communication_seconds_during_backward"],
        "communication_seconds_after_backward": many["communication_seconds_after_backward"],
        "communication_share": share,
        "data_parallel_train_seconds": many["train_seconds"],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.model} width {args.width}, global batch {args.batch_size}, {args.steps} steps, lambda {args.lambda_}, "
          f"{args.threads} threads in all, buckets of {args.bucket_cap_mb:g} MB")
    print(f"  1 process  x {args.threads} threads: {one['images_per_second']:8.1f} img/s")
    print(f"  {args.processes} processes x {args.threads // args.processes} threads: "
          f"{many['images_per_second']:8.1f} img/s  ({figures['ratio']:.2f}x)")
    print(f"  gradient averaging ({many['buckets']} buckets): {100 * share:.1f} % of the data-parallel training time "
          f"({many['communication_seconds_during_backward']:.2f} s in backward's hooks, "
          f"{many['communication_seconds_after_backward']:.2f} s after backward, of {many['train_seconds']:.1f} s)")


if __name__ == "__main__":
    main()
