#!/usr/bin/env python3
"""Keeps lacoot readable and quick to build (STYLE.md, "Fast to build").

  check_sizes.py headers SRC_DIR [--max-lines N]
      fails if a header under SRC_DIR/include/lacoot or SRC_DIR/data_loaders is longer than N lines (600).
  check_sizes.py compile-time BUILD_DIR SOURCE [--max-seconds S]
      recompiles SOURCE with the exact command Meson recorded in compile_commands.json,
      to a scratch object, and fails if it takes longer than S seconds (30).

Both run as Meson tests (tests/meson.build), the second alone so that it is timed on an
otherwise idle machine.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time


def check_headers(src, max_lines):
    roots = [os.path.join(src, "include", "lacoot"), os.path.join(src, "data_loaders")]
    too_long = []
    count = 0
    for folder, _, files in (w for root in roots for w in os.walk(root)):
        for name in files:
            if not name.endswith((".hpp", ".cuh", ".h")):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                n = sum(1 for _ in f)
            count += 1
            if n > max_lines:
                too_long.append((n, os.path.relpath(path, src)))
    if count == 0:
        print(f"no headers found under {roots}: is SRC_DIR the repository root?")
        return 1
    for n, path in sorted(too_long, reverse=True):
        print(f"{path}: {n} lines, over the {max_lines}-line budget; "
              f"HINT: split it into one header per concept (STYLE.md)")
    print(f"{count} headers checked, {len(too_long)} over {max_lines} lines")
    return 1 if too_long else 0


def check_compile_time(build, source, max_seconds):
    db_path = os.path.join(build, "compile_commands.json")
    with open(db_path, encoding="utf-8") as f:
        db = json.load(f)
    entries = [e for e in db if os.path.normpath(os.path.join(e["directory"], e["file"])).endswith(source)]
    if not entries:
        print(f"{source} is not in {db_path}; HINT: is it built (the examples option on)?")
        return 1
    entry = entries[0]
    args = shlex.split(entry["command"])
    # Compile to a scratch object so the build tree is left as it was.
    out = args.index("-o")
    with tempfile.TemporaryDirectory() as scratch:
        args[out + 1] = os.path.join(scratch, "probe.o")
        args = [a for i, a in enumerate(args) if not (a in ("-MD", "-MQ", "-MF") or
                                                      (i > 0 and args[i - 1] in ("-MQ", "-MF")))]
        start = time.monotonic()
        done = subprocess.run(args, cwd=entry["directory"], capture_output=True, text=True)
        seconds = time.monotonic() - start
    if done.returncode != 0:
        print(done.stderr)
        print(f"compiling {source} failed")
        return 1
    print(f"{source}: one translation unit compiled in {seconds:.1f} s (budget {max_seconds:.0f} s)")
    return 0 if seconds <= max_seconds else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    h = sub.add_parser("headers")
    h.add_argument("src")
    h.add_argument("--max-lines", type=int, default=600)
    c = sub.add_parser("compile-time")
    c.add_argument("build")
    c.add_argument("source")
    c.add_argument("--max-seconds", type=float, default=30)
    a = p.parse_args()
    if a.what == "headers":
        return check_headers(a.src, a.max_lines)
    return check_compile_time(a.build, a.source, a.max_seconds)


if __name__ == "__main__":
    sys.exit(main())
