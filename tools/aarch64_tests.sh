#!/usr/bin/env bash
# The core's C++ tests (cpp/tests/core_tests.cpp) on this machine and, cross-compiled
# for aarch64, under QEMU; the aarch64 run must reproduce this machine's digests:
#   bash tools/aarch64_tests.sh            # compare with the host build's FMA digests
#   bash tools/aarch64_tests.sh --no-compare
# On an x86-64 machine without FMA kernels (or with --no-compare) the aarch64 run
# only has to pass its own checks. Needs cmake, ninja and pip; installs Debian's
# g++-aarch64-linux-gnu and qemu-user with apt-get when they are missing, and
# downloads the aarch64 scipy-openblas32 wheel (the BLAS the core links) with pip.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
compare=1
[ "${1:-}" = "--no-compare" ] && compare=0
host=$root/build/ctest-host
arm=$root/build/ctest-aarch64
python=${PYTHON:-python}

echo "== host build"
cmake -S "$root" -B "$host" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRADATLAS_PYTHON=OFF \
  -DGRADATLAS_CORE_TESTS=ON -DPython_EXECUTABLE="$(command -v "$python")" > /dev/null
cmake --build "$host" --target core_tests
(cd "$host" && ctest --output-on-failure)
host_out=$("$host/core_tests")
echo "$host_out"
expected=$(echo "$host_out" | grep -E '^(products|draws|engines)=' | paste -sd, -)

if ! command -v aarch64-linux-gnu-g++ > /dev/null || ! command -v qemu-aarch64 > /dev/null \
    || [ ! -e /usr/lib/aarch64-linux-gnu/libz.so.1 ]; then
  # zlib for the wheel's libgfortran, from Debian's arm64 architecture (multiarch)
  echo "== installing g++-aarch64-linux-gnu, qemu-user and zlib1g:arm64"
  dpkg --add-architecture arm64
  apt-get update -qq && apt-get install -y -qq g++-aarch64-linux-gnu qemu-user zlib1g:arm64 > /dev/null
fi

echo "== aarch64 build"
wheel_dir=$arm/openblas
if [ ! -d "$wheel_dir/scipy_openblas32" ]; then
  mkdir -p "$wheel_dir"
  "$python" -m pip download -q --only-binary=:all: --no-deps --platform manylinux2014_aarch64 \
    --python-version 3.11 -d "$wheel_dir" scipy-openblas32
  "$python" -m zipfile -e "$wheel_dir"/scipy_openblas32-*.whl "$wheel_dir"
fi
cmake -S "$root" -B "$arm" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRADATLAS_PYTHON=OFF \
  -DGRADATLAS_CORE_TESTS=ON -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ -DOPENBLAS_LIB_DIR="$wheel_dir/scipy_openblas32/lib" \
  > /dev/null
cmake --build "$arm" --target core_tests

echo "== aarch64 run under QEMU"
args=()
host_isa=$(echo "$host_out" | sed -n 's/^kernels: //p')
if [ "$compare" = 1 ] && [ "$host_isa" != generic ]; then
  args=(--expect "$expected")  # aarch64 fuses like the host's FMA kernels
  echo "expecting the host's ($host_isa) digests: $expected"
fi
# Under QEMU user mode, OpenBLAS's CPU detection and libgomp's two-thread
# barriers spin forever (measured: no progress in 5 minutes); one OpenMP thread
# and a named core run the whole test in ~2 s. Thread invariance is checked by
# the host build above.
OMP_THREAD_LIMIT=1 OPENBLAS_CORETYPE=ARMV8 OPENBLAS_NUM_THREADS=1 QEMU_LD_PREFIX=/usr/aarch64-linux-gnu \
  LD_LIBRARY_PATH="$wheel_dir/scipy_openblas32/lib:/usr/lib/aarch64-linux-gnu" \
  timeout 600 qemu-aarch64 "$arm/core_tests" "${args[@]}"
