#!/usr/bin/env bash
# Installs the Debian packages lacoot's build, tests and examples need, and only those that are
# missing, so running it twice costs nothing. Works as root or through sudo.
#   tools/setup.sh            build + tests + Fashion-MNIST
#   tools/setup.sh --torch    also PyTorch and POT (only to regenerate fixtures or run the
#                             PyTorch side of tools/bench_ops_torch.py; never needed to build)
set -euo pipefail

packages=(g++ meson ninja-build pkg-config libeigen3-dev doctest-dev libstb-dev zlib1g-dev
          dataset-fashion-mnist clang libclang-rt-dev  # clang + its runtimes: tests/fuzz
          libopenmpi-dev openmpi-bin)                  # data parallel (distributed/mpi.hpp, mpirun)
if [[ "${1:-}" == "--torch" ]]; then packages+=(python3-torch python3-torchvision python3-pot python3-numpy); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
echo "setup: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
