#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer and run
# a core subset of the tests against it, without touching the installed package.
#   bash tools/sanitize.sh [extra pytest args]
# Needs the build tools (cmake, ninja, pybind11, scipy-openblas32) in the current
# Python environment; the tests run in a virtual environment of their own (kept
# in the build directory) so that no installed gradatlas shadows the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/sanitize}
python=${PYTHON:-python}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRADATLAS_SANITIZE=ON \
  -DPython_EXECUTABLE="$(command -v "$python")" \
  -Dpybind11_DIR="$("$python" -c 'import pybind11; print(pybind11.get_cmake_dir())')" > /dev/null
cmake --build "$build" --target _core
pkg=$(mktemp -d)
trap 'rm -rf "$pkg"' EXIT
cp -r "$root/python/gradatlas" "$pkg/"
cp "$build"/_core*.so "$pkg/gradatlas/"
# Python itself is not instrumented: preload the runtimes, ignore its leaks.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_init_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
venv="$build/venv"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q numpy xarray scipy-openblas32 tqdm pytest hypothesis scipy
fi
python="$venv/bin/python"
export PYTHONPATH="$pkg"
"$python" -c "import gradatlas, sys; f = gradatlas._core.__file__; sys.exit(0 if f.startswith('$pkg') else 'not the sanitized build: ' + f)"
cd "$root"
"$python" -m pytest -q -p no:cacheprovider tests/test_core.py tests/test_reference.py tests/test_determinism.py \
  tests/test_errors.py tests/test_sweep.py -k "not ctrl_c" "$@"
