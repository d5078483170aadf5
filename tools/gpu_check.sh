#!/usr/bin/env bash
# The checks that need a GPU, prepared on a machine without one and run on a GPU machine in one
# short call. The GPU machine has nvcc, PyTorch and the NVIDIA libraries (cuBLAS, cuDNN and NCCL
# come with PyTorch) but none of the Debian packages the build needs, so the programs are built
# here and travel with what they load that it lacks: libstb, libgomp and a relocatable Open MPI.
#
#   bash tools/gpu_check.sh pack   here: builds build-gpu/ (-Dnative=false: any x86-64 host;
#                                  -Dgpu_arch=90: the H100/H200) and writes .gpu/bundle.tar.gz
#   bash tools/gpu_check.sh run    there, from the repository root, with .gpu carried along:
#                                  the cuda suite, the distributed suite (NCCL in a world of one
#                                  and of two, if it has two GPUs), a ResNet-18-CIFAR training
#                                  step against PyTorch and 200 steps of the README's main job
#                                  (lacoot train on Fashion-MNIST); summary.txt and log.txt in
#                                  $OUT (or .gpu/out)
#   bash tools/gpu_check.sh selftest   here, as root: `run` with this machine's Open MPI hidden
#                                  (a mount namespace), so that the relocated copy is the one used;
#                                  PYTHON=/usr/bin/python3 for the PyTorch side (setup.sh --torch)
#
# With the device tool: run(command="bash tools/gpu_check.sh run", carry=[".gpu"], timeout_s=480).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gpu="$root/.gpu"
targets=(tests/test_programs tests/test_distributed tests/mpi_worker tools/lacoot tools/bench_train)
# Open MPI as Debian installs it: mpirun (orterun), its libraries, plugins and help texts, PMIx.
ompi_packages=(openmpi-bin libopenmpi3 openmpi-common libpmix2)

pack() {
  cd "$root"
  if [[ ! -f build-gpu/build.ninja ]]; then
    meson setup build-gpu -Dnative=false -Dgpu_arch=90 -Dexamples=false \
      -Dcuda=enabled -Dmpi=enabled -Dnccl=enabled
  fi
  ninja -C build-gpu "${targets[@]}"

  local stage
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' RETURN
  mkdir -p "$stage/bin" "$stage/ompi"
  for t in "${targets[@]}"; do cp "build-gpu/$t" "$stage/bin/"; done
  cp tools/bench_train_torch.py tools/bench_peer.py "$stage/bin/"
  # Fashion-MNIST (31 MB) for the main job on the GPU.
  mkdir -p "$stage/data"
  cp /usr/share/datasets/fashion-mnist/*-ubyte.gz "$stage/data/"

  # Open MPI's files under ompi/, where OPAL_PREFIX and PMIX_PREFIX will point; the
  # headers, manual pages, Java bindings and compiler wrappers stay behind.
  dpkg -L "${ompi_packages[@]}" | sort -u | while read -r f; do
    [[ -f "$f" && ! -L "$f" || -L "$f" && -e "$f" ]] || continue
    case "$f" in /usr/share/man/* | /usr/share/doc/* | */include/* | */java/* | *.jar | *.a | *.la) continue ;; esac
    mkdir -p "$stage/ompi$(dirname "$f")"
    cp -a "$f" "$stage/ompi$f"
  done

  # Every shared library the programs and Open MPI's plugins load, except the C library's own,
  # the C++ runtime (the GPU machine has newer ones) and the NVIDIA libraries (found there).
  local lib="$stage/ompi/usr/lib/x86_64-linux-gnu"
  find "$stage/bin" "$stage/ompi" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    { xargs -0 ldd 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
    grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so' |
    grep -Ev '/(libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl|libnvidia-[a-z-]*)\.so' |
    while read -r so; do
      [[ -e "$lib/$(basename "$so")" ]] || cp -L "$so" "$lib/"
    done

  mkdir -p "$gpu"
  tar -C "$stage" -czf "$gpu/bundle.tar.gz.tmp" bin ompi data
  mv "$gpu/bundle.tar.gz.tmp" "$gpu/bundle.tar.gz"
  git -C "$root" rev-parse HEAD > "$gpu/commit"
  echo "gpu_check: .gpu/bundle.tar.gz ($(du -h "$gpu/bundle.tar.gz" | cut -f1)) of $(cut -c1-7 "$gpu/commit")"
}

# Unpacks the bundle and sets the environment the programs need; prints what it found.
setup() {
  local dest=$1
  rm -rf "$dest"
  mkdir -p "$dest"
  tar -C "$dest" -xzf "$gpu/bundle.tar.gz"
  local dirs=("$dest/ompi/usr/lib/x86_64-linux-gnu")
  # The NVIDIA libraries: the toolkit's, else the ones PyTorch's wheels bring.
  for name in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libnccl.so.2; do
    local found
    found=$(find /usr/local/cuda/lib64/ /usr/local/cuda/targets/x86_64-linux/lib/ /opt /usr/lib /usr/local/lib \
              -name "$name" 2>/dev/null | head -n 1 || true)
    if [[ -n "$found" ]]; then
      dirs+=("$(dirname "$found")")
      echo "gpu_check: $name from $found"
    else
      echo "gpu_check: $name not found"
    fi
  done
  LD_LIBRARY_PATH=$(printf '%s:' "${dirs[@]}")${LD_LIBRARY_PATH:-}
  export LD_LIBRARY_PATH
  export OPAL_PREFIX="$dest/ompi/usr" PMIX_MCA_mca_base_component_path="$dest/ompi/usr/lib/x86_64-linux-gnu/pmix2/lib/pmix"
  export PATH="$dest/ompi/usr/bin:$PATH"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export LACOOT_MPIRUN="$dest/ompi/usr/bin/orterun" LACOOT_MPI_WORKER="$dest/bin/mpi_worker" LACOOT="$dest/bin/lacoot"
}

# One step: its status, time and last line to summary.txt, its output to log.txt (two files:
# the device tool brings back at most eight).
step() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS rc=0 log=/tmp/lacoot_gpu_step.log
  timeout "$limit" "$@" > "$log" 2>&1 || rc=$?
  local line
  line=$(printf '%-12s rc %3d  %4d s  %s' "$name" "$rc" $((SECONDS - start)) "$(tail -n 1 "$log")")
  echo "$line" | tee -a "$out/summary.txt"
  { echo "==== $line"; cat "$log"; } >> "$out/log.txt"
}

run() {
  out=${OUT:-$gpu/out}
  mkdir -p "$out"
  : > "$out/log.txt"
  echo "gpu_check: bundle of $(cut -c1-7 "$gpu/commit"), tree at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')" | tee "$out/summary.txt"
  setup /tmp/lacoot_gpu > /tmp/lacoot_gpu_setup.txt
  tee -a "$out/summary.txt" < /tmp/lacoot_gpu_setup.txt
  local b=/tmp/lacoot_gpu/bin
  step nvidia-smi 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  step ldd 30 bash -c "ldd $b/test_programs $b/mpi_worker | grep -i 'not found' || echo 'ldd: every library found'"
  step mpirun 60 "$LACOOT_MPIRUN" -np 2 --oversubscribe hostname
  step cuda 300 "$b/test_programs" --source-file='*tests/cuda/test_cuda.cpp' --duration=true
  step distributed 300 "$b/test_distributed" --duration=true
  step bench_train 180 "${PYTHON:-python3}" "$b/bench_train_torch.py" "$b/bench_train" --device cuda --batch 128 --steps 20
  # The README's main job on the GPU, cut to 200 steps: its summary (images per second) and log.
  step train 300 "$b/lacoot" train --model resnet18-cifar --dataset fashion-mnist:/tmp/lacoot_gpu/data --width 32 \
    --lambda 1 --max-steps 200 --device cuda --out /tmp/lacoot_gpu/run
  step run_files 10 cat /tmp/lacoot_gpu/run/log.csv /tmp/lacoot_gpu/run/summary.json
}

selftest() {
  # Hides this machine's Open MPI (its programs, its libraries and its plugin, help and
  # configuration folders) in a mount namespace, then does `run` there: the CPU scenarios of the
  # distributed suite on the relocated copy, the GPU cases skipping.
  unshare -m bash -c '
    set -e
    dpkg -L '"${ompi_packages[*]}"' | sort -u | while read -r f; do
      if [[ -f "$f" && ! -L "$f" && ( $f == */bin/* || $f == *.so* ) ]]; then mount --bind /dev/null "$f"; fi
    done
    for d in /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi /etc/openmpi; do
      if [[ -d $d ]]; then mount -t tmpfs none "$d"; fi
    done
    source '"${BASH_SOURCE[0]}"' source-only
    OUT=${OUT:-'"$gpu"'/selftest} run
  '
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  selftest) selftest ;;
  source-only) ;;  # selftest's: the functions, nothing run
  *)
    sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
