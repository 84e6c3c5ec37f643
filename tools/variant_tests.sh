#!/usr/bin/env bash
# Build the extension in a variant configuration and run a core subset of the
# tests against it, without touching the installed package:
#   bash tools/variant_tests.sh sanitize    # AddressSanitizer + UndefinedBehaviorSanitizer
#   bash tools/variant_tests.sh no-openmp   # the serial build (GRADATLAS_OPENMP=OFF)
# Extra arguments go to pytest. Needs the build tools (cmake, ninja, pybind11,
# scipy-openblas32) in the current Python environment; the tests run in a
# virtual environment of their own (kept in the build directory) so that no
# installed gradatlas shadows the build.
set -euo pipefail
variant=${1:?usage: variant_tests.sh sanitize|no-openmp [pytest args]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/$variant
python=${PYTHON:-python}
case "$variant" in
  sanitize)
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRADATLAS_SANITIZE=ON)
    # Python itself is not instrumented: preload the runtimes, ignore its leaks.
    run_env=(LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
             ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_init_order=1
             UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
    expect_openmp=True ;;
  no-openmp)
    flags=(-DCMAKE_BUILD_TYPE=Release -DGRADATLAS_OPENMP=OFF)
    run_env=()
    expect_openmp=False ;;
  *) echo "unknown variant: $variant (sanitize or no-openmp)" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$build" -G Ninja "${flags[@]}" -DPython_EXECUTABLE="$(command -v "$python")" \
  -Dpybind11_DIR="$("$python" -c 'import pybind11; print(pybind11.get_cmake_dir())')" > /dev/null
cmake --build "$build" --target _core
pkg=$(mktemp -d)
trap 'rm -rf "$pkg"' EXIT
cp -r "$root/python/gradatlas" "$pkg/"
cp "$build"/_core*.so "$pkg/gradatlas/"
venv="$build/venv"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q numpy xarray scipy-openblas32 tqdm pytest hypothesis scipy
fi
cd "$root"
env "${run_env[@]}" PYTHONPATH="$pkg" "$venv/bin/python" -c "
import gradatlas, sys
if not gradatlas._core.__file__.startswith('$pkg'):
    sys.exit('not the $variant build: ' + gradatlas._core.__file__)
if gradatlas.has_openmp is not $expect_openmp:
    sys.exit('has_openmp is %s, expected $expect_openmp' % gradatlas.has_openmp)
print('$variant build: has_openmp =', gradatlas.has_openmp, 'max_threads =', gradatlas.max_threads())"
env "${run_env[@]}" PYTHONPATH="$pkg" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_core.py tests/test_reference.py tests/test_determinism.py tests/test_errors.py tests/test_sweep.py tests/test_recurrent.py tests/test_train.py \
  -k "not ctrl_c" "$@"
